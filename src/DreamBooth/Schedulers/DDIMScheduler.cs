// Mirrors diffusers src/diffusers/schedulers/scheduling_ddim.py::DDIMScheduler (v0.27.2).
namespace DreamBooth.Schedulers;

using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Denoising diffusion implicit models (Song et al. 2020), eq. 12:
/// x_t' = sqrt(ᾱ_t') x̂_0 + sqrt(1 − ᾱ_t' − σ_t²) ε̂ + σ_t z, with σ_t = η sqrt(β̃_t) (η = 0: deterministic).
/// Notation: ᾱ_t = alphas_cumprod[t] ("alpha_prod_t"), t' = t − T/N the previous timestep, ᾱ_t' for t' &lt; 0 is
/// <c>final_alpha_cumprod</c> (1 with set_alpha_to_one, else ᾱ_0). Scalars are float32 like diffusers' 0-dim tensors.
/// </summary>
public sealed class DDIMScheduler : SchedulerBase, ITrainingNoiseScheduler
{
    public static SchedulerConfig Defaults { get; } = new()
    {
        NumTrainTimesteps = 1000, BetaStart = 0.0001, BetaEnd = 0.02, BetaSchedule = "linear", ClipSample = true,
        SetAlphaToOne = true, StepsOffset = 0, PredictionType = "epsilon", Thresholding = false,
        DynamicThresholdingRatio = 0.995, ClipSampleRange = 1.0, SampleMaxValue = 1.0, TimestepSpacing = "leading",
        RescaleBetasZeroSnr = false,
    };

    private readonly float finalAlphaCumprod;

    public DDIMScheduler(SchedulerConfig? config = null) : base(config, Defaults)
    {
        PredictionTypes.Check(Name, Config.PredictionType, allowSample: true);
        finalAlphaCumprod = Config.SetAlphaToOne!.Value ? 1f : AlphasCumprodTable[0];
    }

    /// <summary>η of the paper (the pipelines' <c>eta</c>, 0 by default): 0 = DDIM, 1 = DDPM-like noise.</summary>
    public double Eta { get; init; }

    /// <summary>Recompute ε̂ from the clipped x̂_0 (diffusers' <c>use_clipped_model_output</c>).</summary>
    public bool UseClippedModelOutput { get; init; }

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

        // 1. previous timestep t'
        var prevT = t - NumTrainTimesteps / NumInferenceSteps!.Value;

        // 2. ᾱ_t, ᾱ_t', β̄_t
        var alphaProdT = AlphaProd(t);
        var alphaProdTPrev = prevT >= 0 ? AlphaProd(prevT) : finalAlphaCumprod;
        var betaProdT = 1f - alphaProdT;

        // 3. x̂_0 ("predicted x_0" of eq. 12) and ε̂
        Tensor predOriginal, predEpsilon;
        switch (Config.PredictionType)
        {
            case "epsilon":
                predOriginal = (sample - MathF.Sqrt(betaProdT) * modelOutput) / MathF.Sqrt(alphaProdT);
                predEpsilon = modelOutput;
                break;
            case "sample":
                predOriginal = modelOutput;
                predEpsilon = (sample - MathF.Sqrt(alphaProdT) * predOriginal) / MathF.Sqrt(betaProdT);
                break;
            default:   // v_prediction
                predOriginal = MathF.Sqrt(alphaProdT) * sample - MathF.Sqrt(betaProdT) * modelOutput;
                predEpsilon = MathF.Sqrt(alphaProdT) * modelOutput + MathF.Sqrt(betaProdT) * sample;
                break;
        }

        // 4. clip or threshold x̂_0
        if (Config.Thresholding!.Value)
            predOriginal = Thresholding.ThresholdSample(predOriginal, Config.DynamicThresholdingRatio!.Value, Config.SampleMaxValue!.Value);
        else if (Config.ClipSample!.Value)
            predOriginal = predOriginal.clamp(-Config.ClipSampleRange!.Value, Config.ClipSampleRange!.Value);

        // 5. σ_t = η sqrt(β̃_t), eq. 16
        var variance = (1f - alphaProdTPrev) / betaProdT * (1f - alphaProdT / alphaProdTPrev);
        var stdDevT = (float)Eta * MathF.Sqrt(variance);
        if (UseClippedModelOutput)
            predEpsilon = (sample - MathF.Sqrt(alphaProdT) * predOriginal) / MathF.Sqrt(betaProdT);

        // 6-7. "direction pointing to x_t" and x_t' (eq. 12)
        var direction = MathF.Sqrt(1f - alphaProdTPrev - stdDevT * stdDevT) * predEpsilon;
        var prev = MathF.Sqrt(alphaProdTPrev) * predOriginal + direction;

        if (Eta > 0)
        {
            var noise = Rng.RandnTensor(modelOutput.shape, generator, modelOutput.device, modelOutput.dtype);
            prev = prev + stdDevT * noise;
        }
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), predOriginal.alias().MoveToOuterDisposeScope());
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) => AddNoiseAlphas(originalSamples, noise, timesteps);

    public Tensor GetVelocity(Tensor sample, Tensor noise, Tensor timesteps) => GetVelocityAlphas(sample, noise, timesteps);
}
