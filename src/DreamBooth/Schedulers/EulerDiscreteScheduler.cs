// Mirrors diffusers src/diffusers/schedulers/scheduling_euler_discrete.py::EulerDiscreteScheduler (v0.27.2).
namespace DreamBooth.Schedulers;

using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Euler method on the probability-flow ODE dx/dσ = (x − x̂_0) / σ (Karras et al. 2022, Algorithm 2 with optional
/// churn): x' = x + (x − x̂_0)/σ̂ · (σ_next − σ̂), σ̂ = σ (1 + γ). With the default s_churn = 0, γ = 0 and the step is
/// deterministic, but diffusers still draws a randn from the generator every step; so do we (RNG-stream parity).
/// </summary>
public sealed class EulerDiscreteScheduler : DiscreteSigmaScheduler
{
    public static SchedulerConfig Defaults { get; } = new()
    {
        NumTrainTimesteps = 1000, BetaStart = 0.0001, BetaEnd = 0.02, BetaSchedule = "linear", PredictionType = "epsilon",
        InterpolationType = "linear", UseKarrasSigmas = false, TimestepSpacing = "linspace", TimestepType = "discrete",
        StepsOffset = 0, RescaleBetasZeroSnr = false,
    };

    public EulerDiscreteScheduler(SchedulerConfig? config = null) : base(config, Defaults, terminalAlphaFloor: true)
    {
        PredictionTypes.Check(Name, Config.PredictionType, allowSample: true);
        if (Config.InterpolationType is not ("linear" or "log_linear"))
            throw new DreamBoothException($"{Name}: interpolation_type '{Config.InterpolationType}' is not supported; use linear or log_linear.");
    }

    /// <summary>Churn γ = min(s_churn / (len(sigmas) − 1), √2 − 1) for σ in [s_tmin, s_tmax]; 0 disables it.</summary>
    public double SChurn { get; init; }

    public double STmin { get; init; }

    public double STmax { get; init; } = double.PositiveInfinity;

    public double SNoise { get; init; } = 1.0;

    private bool ContinuousTimesteps => Config.TimestepType == "continuous" && Config.PredictionType == "v_prediction";

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        CheckStepCount(numInferenceSteps);
        NumInferenceSteps = numInferenceSteps;
        var timesteps = TimestepSpacing.Sigma(Config, Name, numInferenceSteps);

        double[] sigmas = Config.InterpolationType == "log_linear"
            // torch.linspace(log σ_max, log σ_min, N + 1).exp() in float32 (one more sigma than timesteps, as diffusers).
            ? LogLinearSigmas(numInferenceSteps + 1)
            : InterpolatedSigmas(timesteps);
        if (Config.UseKarrasSigmas!.Value)
        {
            sigmas = KarrasSigmas(sigmas, numInferenceSteps, useConfigBounds: true);
            timesteps = sigmas.Select(s => (double)(float)ScheduleMath.SigmaToT(s, LogTrainingSigmas)).ToArray();
        }
        SetSamplingSigmas(sigmas);

        // "continuous" v-prediction models (e.g. cosine-continuous EDM checkpoints) take c_noise = log(σ) / 4.
        if (ContinuousTimesteps)
            timesteps = SamplingSigmas[..^1].Select(s => (double)(0.25f * MathF.Log(s))).ToArray();
        SetTimestepTensor(timesteps, ScalarType.Float32, device);
    }

    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null)
    {
        CheckTimestepsSet();
        using var scope = NewDisposeScope();
        StepIndex ??= InitialStepIndex(timestep);
        var i = StepIndex.Value;
        sample = sample.to(ScalarType.Float32);

        var sigma = SigmaAt(i);
        var gamma = STmin <= sigma && sigma <= STmax ? Math.Min(SChurn / (SamplingSigmas.Length - 1), Math.Sqrt(2) - 1) : 0.0;
        var noise = Rng.RandnTensor(modelOutput.shape, generator, modelOutput.device, modelOutput.dtype);   // drawn even when unused
        var sigmaHat = sigma * (float)(gamma + 1);
        if (gamma > 0)
            sample = sample + noise * SNoise * MathF.Sqrt(sigmaHat * sigmaHat - sigma * sigma);

        // 1. x̂_0 from the model output
        var predOriginal = Config.PredictionType switch
        {
            "epsilon" => sample - sigmaHat * modelOutput,
            "sample" => modelOutput.alias(),
            _ => modelOutput * (-sigma / MathF.Sqrt(sigma * sigma + 1f)) + sample / (sigma * sigma + 1f),   // v_prediction
        };

        // 2. ODE derivative and Euler step to the next sigma
        var derivative = (sample - predOriginal) / sigmaHat;
        var dt = SigmaAt(i + 1) - sigmaHat;
        var prev = (sample + derivative * dt).to(modelOutput.dtype);
        StepIndex = i + 1;
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), predOriginal.MoveToOuterDisposeScope());
    }

    private double[] LogLinearSigmas(int count)
    {
        using var scope = NewDisposeScope();
        var logs = linspace(MathF.Log(TrainingSigmas[^1]), MathF.Log(TrainingSigmas[0]), count, ScalarType.Float32).exp();
        return logs.data<float>().ToArray().Select(s => (double)s).ToArray();
    }
}
