// Mirrors diffusers src/diffusers/schedulers/scheduling_utils.py::SchedulerMixin (the part pipelines call).
namespace DreamBooth.Schedulers;

using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// A diffusion sampler. Stateful: <see cref="SetTimesteps"/> resets it and must precede <see cref="Step"/>; then call
/// <see cref="ScaleModelInput"/> and <see cref="Step"/> once per entry of <see cref="Timesteps"/>, in order.
/// Tensors the scheduler keeps between steps (histories, tables) are detached from dispose scopes and owned by it.
/// </summary>
public interface IScheduler : IDisposable
{
    /// <summary>Resolved config (every key of the class set), like diffusers' <c>scheduler.config</c>.</summary>
    SchedulerConfig Config { get; }

    /// <summary>diffusers' class attribute <c>order</c> (1 for every scheduler here; PNDM repeats a timestep instead).</summary>
    int Order { get; }

    /// <summary>Multiplier for the initial latents: 1 for DDPM/DDIM/PNDM/DPM, σ_max-based for Euler/LMS.</summary>
    double InitNoiseSigma { get; }

    /// <summary>Timesteps after <see cref="SetTimesteps"/>, high to low: int64, or float32 for Euler/Euler-a/LMS.</summary>
    Tensor Timesteps { get; }

    /// <summary>Sampling sigmas incl. the final one (CPU float32) for sigma schedulers; null for the others.</summary>
    Tensor? Sigmas { get; }

    void SetTimesteps(int numInferenceSteps, Device? device = null);

    /// <summary>Input scaling before the UNet: identity, or x / sqrt(σ² + 1). Returns a new tensor handle.</summary>
    Tensor ScaleModelInput(Tensor sample, double timestep);

    /// <summary>One denoising step x_t → x_{t-1}. <paramref name="generator"/> feeds the noise of stochastic samplers.</summary>
    SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null);

    /// <summary>The forward process q(x_t | x_0) at <paramref name="timesteps"/> (one per batch element).</summary>
    Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps);

    /// <summary><see cref="ScaleModelInput(Tensor, double)"/> with a 0-dim entry of <see cref="Timesteps"/>.</summary>
    Tensor ScaleModelInput(Tensor sample, Tensor timestep);

    /// <summary><see cref="Step(Tensor, double, Tensor, Generator?)"/> with a 0-dim entry of <see cref="Timesteps"/>.</summary>
    SchedulerStepOutput Step(Tensor modelOutput, Tensor timestep, Tensor sample, Generator? generator = null);
}

/// <summary>Schedulers that also define the training target of v-prediction models (DDPM, DDIM).</summary>
public interface ITrainingNoiseScheduler : IScheduler
{
    /// <summary>ᾱ_t, float32 [num_train_timesteps] on the CPU (for SNR weighting).</summary>
    Tensor AlphasCumprod { get; }

    /// <summary>v = sqrt(ᾱ_t) ε − sqrt(1 − ᾱ_t) x_0.</summary>
    Tensor GetVelocity(Tensor sample, Tensor noise, Tensor timesteps);
}

/// <summary>Result of <see cref="IScheduler.Step"/>: x_{t-1}, and the x_0 estimate where the scheduler computes one.</summary>
public sealed record SchedulerStepOutput(Tensor PrevSample, Tensor? PredOriginalSample = null);
