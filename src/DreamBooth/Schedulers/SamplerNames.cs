namespace DreamBooth.Schedulers;

/// <summary>
/// AUTOMATIC1111's sampler names for the diffusers scheduler classes: what A1111, ComfyUI and Civitai expect after
/// "Sampler:" in PNG metadata. The one table every image writer uses, keyed by the class that actually ran.
/// </summary>
public static class SamplerNames
{
    /// <summary>The A1111 name of <paramref name="schedulerClass"/>; an unknown class keeps its own name.</summary>
    public static string A1111(string schedulerClass) => schedulerClass switch
    {
        nameof(EulerAncestralDiscreteScheduler) => "Euler a",
        nameof(EulerDiscreteScheduler) => "Euler",
        nameof(DDIMScheduler) => "DDIM",
        nameof(PNDMScheduler) => "PLMS",
        nameof(DPMSolverMultistepScheduler) => "DPM++ 2M",
        nameof(LMSDiscreteScheduler) => "LMS",
        nameof(DDPMScheduler) => "DDPM",
        _ => schedulerClass,
    };
}
