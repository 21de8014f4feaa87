// Mirrors diffusers src/diffusers/schedulers/scheduling_euler_ancestral_discrete.py::EulerAncestralDiscreteScheduler (v0.27.2).
namespace DreamBooth.Schedulers;

using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Ancestral Euler (k-diffusion's sample_euler_ancestral, η = 1): an Euler step down to σ_down, then fresh noise of
/// scale σ_up, where σ_up = sqrt(σ_to² (σ_from² − σ_to²) / σ_from²) and σ_down = sqrt(σ_to² − σ_up²).
/// The noise comes from the generator passed to <see cref="Step"/> (the pipeline's), one randn per step.
/// </summary>
public sealed class EulerAncestralDiscreteScheduler : DiscreteSigmaScheduler
{
    public static SchedulerConfig Defaults { get; } = new()
    {
        NumTrainTimesteps = 1000, BetaStart = 0.0001, BetaEnd = 0.02, BetaSchedule = "linear", PredictionType = "epsilon",
        TimestepSpacing = "linspace", StepsOffset = 0, RescaleBetasZeroSnr = false,
    };

    public EulerAncestralDiscreteScheduler(SchedulerConfig? config = null) : base(config, Defaults, terminalAlphaFloor: true) =>
        PredictionTypes.Check(Name, Config.PredictionType, allowSample: false);   // diffusers has no "sample" here

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        CheckStepCount(numInferenceSteps);
        NumInferenceSteps = numInferenceSteps;
        var timesteps = TimestepSpacing.Sigma(Config, Name, numInferenceSteps);
        SetSamplingSigmas(InterpolatedSigmas(timesteps));
        SetTimestepTensor(timesteps, ScalarType.Float32, device);
    }

    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null)
    {
        CheckTimestepsSet();
        using var scope = NewDisposeScope();
        StepIndex ??= InitialStepIndex(timestep);
        var i = StepIndex.Value;
        var sigma = SigmaAt(i);
        sample = sample.to(ScalarType.Float32);

        // 1. x̂_0 from the model output
        var predOriginal = Config.PredictionType == "epsilon"
            ? sample - sigma * modelOutput
            : modelOutput * (-sigma / MathF.Sqrt(sigma * sigma + 1f)) + sample / (sigma * sigma + 1f);   // v_prediction

        // 2. split the step to σ_to into a deterministic part (to σ_down) and injected noise (σ_up)
        float sigmaFrom = sigma, sigmaTo = SigmaAt(i + 1);
        var sigmaUp = MathF.Sqrt(sigmaTo * sigmaTo * (sigmaFrom * sigmaFrom - sigmaTo * sigmaTo) / (sigmaFrom * sigmaFrom));
        var sigmaDown = MathF.Sqrt(sigmaTo * sigmaTo - sigmaUp * sigmaUp);

        // 3. Euler step to σ_down, then x += σ_up z
        var derivative = (sample - predOriginal) / sigma;
        var dt = sigmaDown - sigma;
        var prev = sample + derivative * dt;
        var noise = Rng.RandnTensor(modelOutput.shape, generator, modelOutput.device, modelOutput.dtype);
        prev = (prev + noise * sigmaUp).to(modelOutput.dtype);
        StepIndex = i + 1;
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), predOriginal.MoveToOuterDisposeScope());
    }
}
