// Mirrors what diffusers' EulerDiscrete, EulerAncestralDiscrete and LMSDiscrete schedulers share (v0.27.2):
// σ-parameterised sampling (Karras et al. 2022, x = x_0 + σ ε), init_noise_sigma, scale_model_input, the step index
// found from the first timestep, and σ-based add_noise.
namespace DreamBooth.Schedulers;

using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Base for the k-diffusion style samplers. σ_t = sqrt((1 − ᾱ_t) / ᾱ_t) is the noise level of training timestep t;
/// the sampling sigmas (float32) are the interpolated σ at <see cref="IScheduler.Timesteps"/>, followed by a final 0.
/// The UNet sees x / sqrt(σ² + 1) (the variance-preserving input it was trained on).
/// </summary>
public abstract class DiscreteSigmaScheduler : SchedulerBase
{
    private Tensor? sigmasTensor;

    protected DiscreteSigmaScheduler(SchedulerConfig? config, SchedulerConfig classDefaults, bool terminalAlphaFloor)
        : base(config, classDefaults, terminalAlphaFloor: terminalAlphaFloor)
    {
        TrainingSigmas = ScheduleMath.TrainingSigmas(AlphasCumprodTable);
        LogTrainingSigmas = TrainingSigmas.Select(s => MathF.Log(s)).ToArray();
    }

    /// <summary>σ_max-based: σ_max for linspace/trailing spacing, sqrt(σ_max² + 1) for leading (float32).</summary>
    public override double InitNoiseSigma
    {
        get
        {
            var max = SamplingSigmas.Length > 0 ? SamplingSigmas.Max() : TrainingSigmas.Max();
            return Config.TimestepSpacing is "linspace" or "trailing" ? max : MathF.Sqrt(max * max + 1f);
        }
    }

    public override Tensor? Sigmas => sigmasTensor;

    /// <summary>Index into the sigmas of the next step (null until the first ScaleModelInput/Step).</summary>
    public int? StepIndex { get; protected set; }

    /// <summary>First step index for img2img-style partial schedules (diffusers' set_begin_index).</summary>
    public int? BeginIndex { get; private set; }

    /// <summary>σ_t of the training timesteps 0..T-1 (float32, ascending).</summary>
    protected float[] TrainingSigmas { get; }

    /// <summary>log σ_t as float32, as numpy computes it from the float32 table.</summary>
    protected float[] LogTrainingSigmas { get; }

    /// <summary>The sampling sigmas incl. the final one (float32 values).</summary>
    protected float[] SamplingSigmas { get; private set; } = [];

    public void SetBeginIndex(int beginIndex = 0) => BeginIndex = beginIndex;

    public override Tensor ScaleModelInput(Tensor sample, double timestep)
    {
        StepIndex ??= InitialStepIndex(timestep);
        var sigma = SamplingSigmas[StepIndex.Value];
        return sample / MathF.Sqrt(sigma * sigma + 1f);
    }

    /// <summary>x_0 + σ ε with σ of each timestep's position in the schedule.</summary>
    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        var indices = StepIndicesFor(timesteps);
        var sigma = tensor(indices.Select(i => SamplingSigmas[i]).ToArray(), device: originalSamples.device).to(originalSamples.dtype);
        return (originalSamples + noise * sigma.reshape(BroadcastShape(originalSamples))).MoveToOuterDisposeScope();
    }

    /// <summary>Sets the sampling sigmas (float64 values, cast to float32 like diffusers) plus the final sigma.</summary>
    protected void SetSamplingSigmas(IEnumerable<double> sigmas, double finalSigma = 0)
    {
        SamplingSigmas = [.. sigmas.Select(s => (float)s), (float)finalSigma];
        sigmasTensor?.Dispose();
        sigmasTensor = tensor(SamplingSigmas).DetachFromDisposeScope();
        StepIndex = null;
        BeginIndex = null;
    }

    /// <summary>np.interp of the training sigmas at (fractional) timesteps.</summary>
    protected double[] InterpolatedSigmas(IEnumerable<double> timesteps) =>
        timesteps.Select(t => ScheduleMath.Interp(t, TrainingSigmas)).ToArray();

    /// <summary>Karras σ schedule; σ_min/σ_max from the config when set there, else the ends of <paramref name="sigmas"/>.</summary>
    protected double[] KarrasSigmas(double[] sigmas, int numInferenceSteps, bool useConfigBounds) =>
        ScheduleMath.KarrasSigmas(
            (useConfigBounds ? Config.SigmaMin : null) ?? sigmas[^1],
            (useConfigBounds ? Config.SigmaMax : null) ?? sigmas[0],
            numInferenceSteps);

    /// <summary>The step index the schedule starts from: begin index, or the position of the first timestep.</summary>
    protected int InitialStepIndex(double timestep) => BeginIndex ?? IndexForTimestep(timestep);

    /// <summary>Position of <paramref name="timestep"/> in the schedule; the second match when it occurs twice.</summary>
    protected virtual int IndexForTimestep(double timestep)
    {
        var matches = Enumerable.Range(0, TimestepValues.Length).Where(i => TimestepValues[i] == timestep).Take(2).ToList();
        if (matches.Count == 0) throw new DreamBoothException($"{Name}: timestep {timestep} is not in the schedule.");
        return matches[^1];
    }

    protected float SigmaAt(int index) => SamplingSigmas[index];

    private int[] StepIndicesFor(Tensor timesteps)
    {
        using var values = timesteps.flatten().to(ScalarType.Float64).cpu();
        var ts = values.data<double>().ToArray();
        if (BeginIndex is null) return ts.Select(IndexForTimestep).ToArray();
        return Enumerable.Repeat(StepIndex ?? BeginIndex.Value, ts.Length).ToArray();
    }

    protected static long[] BroadcastShape(Tensor like)
    {
        var shape = new long[like.dim()];
        Array.Fill(shape, 1L);
        shape[0] = -1;
        return shape;   // [B, 1, 1, 1]
    }

    protected override void Dispose(bool disposing)
    {
        sigmasTensor?.Dispose();
        sigmasTensor = null;
    }
}
