// Mirrors diffusers src/diffusers/schedulers/scheduling_ddpm.py::DDPMScheduler (v0.27.2).
namespace DreamBooth.Schedulers;

using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Ancestral sampling of Ho et al. 2020, and the training noise schedule (add_noise, get_velocity).
/// Notation: ᾱ_t = alphas_cumprod[t] ("alpha_prod_t"), β̄_t = 1 − ᾱ_t ("beta_prod_t"), t' = previous timestep,
/// α_t = ᾱ_t / ᾱ_t' and β_t = 1 − α_t (the effective one-step values when steps are skipped).
/// Scalars are float32, as diffusers' 0-dim tensors.
/// </summary>
public sealed class DDPMScheduler : SchedulerBase, ITrainingNoiseScheduler
{
    public static SchedulerConfig Defaults { get; } = new()
    {
        NumTrainTimesteps = 1000, BetaStart = 0.0001, BetaEnd = 0.02, BetaSchedule = "linear",
        VarianceType = "fixed_small", ClipSample = true, PredictionType = "epsilon", Thresholding = false,
        DynamicThresholdingRatio = 0.995, ClipSampleRange = 1.0, SampleMaxValue = 1.0, TimestepSpacing = "leading",
        StepsOffset = 0, RescaleBetasZeroSnr = false,
    };

    private static readonly string[] VarianceTypes = ["fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log", "learned", "learned_range"];

    public DDPMScheduler(SchedulerConfig? config = null) : base(config, Defaults, allowSigmoid: true)
    {
        PredictionTypes.Check(Name, Config.PredictionType, allowSample: true);
        if (!VarianceTypes.Contains(Config.VarianceType))
            throw new DreamBoothException($"{Name}: variance_type '{Config.VarianceType}' is not one of {string.Join(", ", VarianceTypes)}.");
    }

    /// <summary>β_t (float32, CPU) as configured.</summary>
    public Tensor Betas => BetasTensor;

    public Tensor AlphasCumprod => AlphasCumprodTensor;

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        CheckStepCount(numInferenceSteps);
        NumInferenceSteps = numInferenceSteps;
        SetTimestepTensor(TimestepSpacing.Discrete(Config, Name, numInferenceSteps), ScalarType.Int64, device);
    }

    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null)
    {
        CheckTimestepsSet();
        using var scope = NewDisposeScope();
        var t = (long)timestep;
        var prevT = PreviousTimestep(t);

        Tensor? predictedVariance = null;
        var learned = Config.VarianceType is "learned" or "learned_range";
        if (modelOutput.shape[1] == sample.shape[1] * 2 && learned)
        {
            var parts = modelOutput.split(sample.shape[1], 1);   // [B, C, ...] each
            (modelOutput, predictedVariance) = (parts[0], parts[1]);
        }

        // 1. ᾱ_t, ᾱ_t', β̄_t, β̄_t', α_t, β_t
        var alphaProdT = AlphaProd(t);
        var alphaProdTPrev = prevT >= 0 ? AlphaProd(prevT) : 1f;
        var betaProdT = 1f - alphaProdT;
        var betaProdTPrev = 1f - alphaProdTPrev;
        var currentAlphaT = alphaProdT / alphaProdTPrev;
        var currentBetaT = 1f - currentAlphaT;

        // 2. x̂_0 from the model output (eq. 15 of the DDPM paper for ε)
        var predOriginal = Config.PredictionType switch
        {
            "epsilon" => (sample - MathF.Sqrt(betaProdT) * modelOutput) / MathF.Sqrt(alphaProdT),
            "sample" => modelOutput.alias(),
            _ => MathF.Sqrt(alphaProdT) * sample - MathF.Sqrt(betaProdT) * modelOutput,   // v_prediction
        };

        // 3. clip or threshold x̂_0
        if (Config.Thresholding!.Value)
            predOriginal = Thresholding.ThresholdSample(predOriginal, Config.DynamicThresholdingRatio!.Value, Config.SampleMaxValue!.Value);
        else if (Config.ClipSample!.Value)
            predOriginal = predOriginal.clamp(-Config.ClipSampleRange!.Value, Config.ClipSampleRange!.Value);

        // 4-5. posterior mean μ̃_t(x_t, x̂_0) (eq. 7)
        var predOriginalCoeff = MathF.Sqrt(alphaProdTPrev) * currentBetaT / betaProdT;
        var currentSampleCoeff = MathF.Sqrt(currentAlphaT) * betaProdTPrev / betaProdT;
        var prev = predOriginalCoeff * predOriginal + currentSampleCoeff * sample;

        // 6. add σ_t z (no noise at t = 0)
        if (t > 0)
        {
            var noise = Rng.RandnTensor(modelOutput.shape, generator, modelOutput.device, modelOutput.dtype);
            prev = prev + Config.VarianceType switch
            {
                "fixed_small_log" => FixedVariance(t) * noise,
                "learned_range" => (0.5 * LearnedRangeLogVariance(t, predictedVariance!)).exp() * noise,
                "learned" => predictedVariance!.sqrt() * noise,
                _ => MathF.Sqrt(FixedVariance(t)) * noise,
            };
        }
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), predOriginal.MoveToOuterDisposeScope());
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) => AddNoiseAlphas(originalSamples, noise, timesteps);

    public Tensor GetVelocity(Tensor sample, Tensor noise, Tensor timesteps) => GetVelocityAlphas(sample, noise, timesteps);

    private long PreviousTimestep(long t) => t - NumTrainTimesteps / (NumInferenceSteps ?? NumTrainTimesteps);

    // _get_variance for the fixed variance types: β̃_t = (1 − ᾱ_t') / (1 − ᾱ_t) · β_t (eq. 7), clamped at 1e-20.
    private float FixedVariance(long t)
    {
        var prevT = PreviousTimestep(t);
        var alphaProdT = AlphaProd(t);
        var alphaProdTPrev = prevT >= 0 ? AlphaProd(prevT) : 1f;
        var betaT = 1f - alphaProdT / alphaProdTPrev;
        var variance = Math.Max((1f - alphaProdTPrev) / (1f - alphaProdT) * betaT, 1e-20f);
        return Config.VarianceType switch
        {
            "fixed_small_log" => MathF.Exp(0.5f * MathF.Log(variance)),   // a standard deviation, used as is
            "fixed_large" => betaT,
            "fixed_large_log" => MathF.Log(betaT),
            _ => variance,
        };
    }

    // learned_range: the model interpolates log β̃_t .. log β_t with v ∈ [−1, 1] (Nichol & Dhariwal 2021).
    private Tensor LearnedRangeLogVariance(long t, Tensor predictedVariance)
    {
        var prevT = PreviousTimestep(t);
        var alphaProdT = AlphaProd(t);
        var alphaProdTPrev = prevT >= 0 ? AlphaProd(prevT) : 1f;
        var betaT = 1f - alphaProdT / alphaProdTPrev;
        var minLog = MathF.Log(Math.Max((1f - alphaProdTPrev) / (1f - alphaProdT) * betaT, 1e-20f));
        var maxLog = MathF.Log(betaT);
        var frac = (predictedVariance + 1) / 2;
        return frac * maxLog + (1 - frac) * minLog;
    }
}
