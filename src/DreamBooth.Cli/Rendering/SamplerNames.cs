namespace DreamBooth.Cli.Rendering;

/// <summary>A1111's sampler names for the diffusers schedulers (what other tools expect in PNG metadata).</summary>
internal static class SamplerNames
{
    public static string A1111(string schedulerClass) => schedulerClass switch
    {
        "EulerAncestralDiscreteScheduler" => "Euler a",
        "EulerDiscreteScheduler" => "Euler",
        "DDIMScheduler" => "DDIM",
        "PNDMScheduler" => "PLMS",
        "DPMSolverMultistepScheduler" => "DPM++ 2M",
        "LMSDiscreteScheduler" => "LMS",
        "DDPMScheduler" => "DDPM",
        _ => schedulerClass,
    };
}
