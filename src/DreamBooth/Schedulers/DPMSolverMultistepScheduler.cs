// Mirrors diffusers src/diffusers/schedulers/scheduling_dpmsolver_multistep.py::DPMSolverMultistepScheduler (v0.27.2).
namespace DreamBooth.Schedulers;

using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// DPM-Solver (Lu et al. 2022) and DPM-Solver++ (Lu et al. 2022b) multistep, orders 1–3, plus their SDE variants.
/// Notation: σ = sqrt((1 − ᾱ)/ᾱ) (sigmas), α_t = 1/sqrt(σ² + 1) and σ_t = σ α_t (VP coefficients), λ = log α_t − log σ_t,
/// h = λ_t − λ_s0 the step in half-log-SNR; s0, s1, s2 = the current and previous steps; m = converted model outputs
/// (x̂_0 for the ++ variants, ε̂ otherwise). "DPM++ 2M" = dpmsolver++ with solver_order 2: the first step is first order
/// (no history yet), and so is the last with final_sigmas_type "zero" (or lower_order_final with fewer than 15 steps).
/// Scalars are float32, as diffusers' 0-dim tensors.
/// </summary>
public sealed class DPMSolverMultistepScheduler : SchedulerBase
{
    public static SchedulerConfig Defaults { get; } = new()
    {
        NumTrainTimesteps = 1000, BetaStart = 0.0001, BetaEnd = 0.02, BetaSchedule = "linear", SolverOrder = 2,
        PredictionType = "epsilon", Thresholding = false, DynamicThresholdingRatio = 0.995, SampleMaxValue = 1.0,
        AlgorithmType = "dpmsolver++", SolverType = "midpoint", LowerOrderFinal = true, EulerAtFinal = false,
        UseKarrasSigmas = false, UseLuLambdas = false, FinalSigmasType = "zero", LambdaMinClipped = double.NegativeInfinity,
        TimestepSpacing = "linspace", StepsOffset = 0, RescaleBetasZeroSnr = false,
    };

    private readonly string algorithm;
    private readonly string solverType;
    private readonly int solverOrder;
    private readonly float[] lambdaT;            // λ of the training timesteps (float32, as diffusers' lambda_t)
    private readonly Tensor?[] modelOutputs;     // converted outputs of the last solverOrder steps, newest last
    private float[] sigmas = [];
    private Tensor? sigmasTensor;
    private int lowerOrderNums;

    public DPMSolverMultistepScheduler(SchedulerConfig? config = null) : base(config, Defaults, terminalAlphaFloor: true)
    {
        PredictionTypes.Check(Name, Config.PredictionType, allowSample: true);
        // diffusers maps the DEIS / UniPC names onto these.
        algorithm = Config.AlgorithmType == "deis" ? "dpmsolver++" : Config.AlgorithmType!;
        solverType = Config.SolverType is "logrho" or "bh1" or "bh2" ? "midpoint" : Config.SolverType!;
        solverOrder = Config.SolverOrder!.Value;
        if (algorithm is not ("dpmsolver" or "dpmsolver++" or "sde-dpmsolver" or "sde-dpmsolver++"))
            throw new DreamBoothException($"{Name}: algorithm_type '{Config.AlgorithmType}' is not supported.");
        if (solverType is not ("midpoint" or "heun"))
            throw new DreamBoothException($"{Name}: solver_type '{Config.SolverType}' is not supported.");
        if (solverOrder is < 1 or > 3) throw new DreamBoothException($"{Name}: solver_order must be 1, 2 or 3.");
        if (solverOrder == 3 && algorithm.StartsWith("sde", StringComparison.Ordinal))
            throw new DreamBoothException($"{Name}: third-order {algorithm} is not implemented in diffusers either.");
        if (Config.FinalSigmasType is not ("zero" or "sigma_min"))
            throw new DreamBoothException($"{Name}: final_sigmas_type '{Config.FinalSigmasType}' is not one of zero, sigma_min.");
        if (Config.FinalSigmasType == "zero" && !algorithm.EndsWith("++", StringComparison.Ordinal))
            throw new DreamBoothException($"{Name}: final_sigmas_type 'zero' needs a ++ algorithm_type; use final_sigmas_type 'sigma_min'.");

        lambdaT = AlphasCumprodTable.Select(a => MathF.Log(MathF.Sqrt(a)) - MathF.Log(MathF.Sqrt(1f - a))).ToArray();
        modelOutputs = new Tensor?[solverOrder];
    }

    public override Tensor? Sigmas => sigmasTensor;

    public int? StepIndex { get; private set; }

    public int? BeginIndex { get; private set; }

    public void SetBeginIndex(int beginIndex = 0) => BeginIndex = beginIndex;

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        CheckStepCount(numInferenceSteps);
        // Timesteps whose λ is below lambda_min_clipped are cut off (searchsorted on the ascending flipped λ).
        var clippedIdx = lambdaT.Reverse().Count(l => l < Config.LambdaMinClipped!.Value);
        long lastTimestep = NumTrainTimesteps - clippedIdx;
        var timesteps = TimestepSpacing.DpmSolver(Config, Name, numInferenceSteps, lastTimestep);

        var training = ScheduleMath.TrainingSigmas(AlphasCumprodTable);
        var logSigmas = training.Select(s => MathF.Log(s)).ToArray();
        double[] sampling;
        if (Config.UseKarrasSigmas!.Value)
        {
            sampling = ScheduleMath.KarrasSigmas(Config.SigmaMin ?? training[0], Config.SigmaMax ?? training[^1], numInferenceSteps);
            timesteps = ScheduleMath.Round(sampling.Select(s => ScheduleMath.SigmaToT(s, logSigmas)).ToArray());
        }
        else if (Config.UseLuLambdas!.Value)
        {
            // Uniform steps in log σ between its ends (Lu et al.'s "uniform λ" spacing), rho = 1.
            var ramp = ScheduleMath.Linspace(0, 1, numInferenceSteps);
            double lambdaMin = logSigmas[0], lambdaMax = logSigmas[^1];
            sampling = ramp.Select(r => Math.Exp(lambdaMax + r * (lambdaMin - lambdaMax))).ToArray();
            timesteps = ScheduleMath.Round(sampling.Select(s => ScheduleMath.SigmaToT(s, logSigmas)).ToArray());
        }
        else
            sampling = timesteps.Select(t => ScheduleMath.Interp(t, training)).ToArray();

        var a0 = AlphasCumprodTable[0];
        var sigmaLast = Config.FinalSigmasType == "sigma_min" ? MathF.Sqrt((1f - a0) / a0) : 0f;
        sigmas = [.. sampling.Select(s => (float)s), sigmaLast];
        sigmasTensor?.Dispose();
        sigmasTensor = tensor(sigmas).DetachFromDisposeScope();
        SetTimestepTensor(timesteps, ScalarType.Int64, device);
        NumInferenceSteps = timesteps.Length;

        ClearHistory();
        lowerOrderNums = 0;
        StepIndex = null;
        BeginIndex = null;
    }

    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null)
    {
        CheckTimestepsSet();
        using var scope = NewDisposeScope();
        StepIndex ??= BeginIndex ?? IndexForTimestep(timestep);
        var i = StepIndex.Value;
        var n = TimestepValues.Length;

        // Drop to first order at the very end (and to second order one step before) where the history would hurt.
        var lowerOrderFinal = i == n - 1
            && (Config.EulerAtFinal!.Value || (Config.LowerOrderFinal!.Value && n < 15) || Config.FinalSigmasType == "zero");
        var lowerOrderSecond = i == n - 2 && Config.LowerOrderFinal!.Value && n < 15;

        var converted = ConvertModelOutput(modelOutput, sample, i);
        modelOutputs[0]?.Dispose();
        for (var k = 0; k < solverOrder - 1; k++) modelOutputs[k] = modelOutputs[k + 1];
        modelOutputs[^1] = Keep(converted);

        sample = sample.to(ScalarType.Float32);
        var noise = algorithm.StartsWith("sde", StringComparison.Ordinal)
            ? Rng.RandnTensor(modelOutput.shape, generator, modelOutput.device, ScalarType.Float32)
            : null;

        Tensor prev;
        if (solverOrder == 1 || lowerOrderNums < 1 || lowerOrderFinal)
            prev = FirstOrderUpdate(converted, sample, noise, i);
        else if (solverOrder == 2 || lowerOrderNums < 2 || lowerOrderSecond)
            prev = DpmSolverMath.SecondOrder(algorithm, solverType, modelOutputs, sigmas, i, sample, noise);
        else
            prev = DpmSolverMath.ThirdOrder(algorithm, modelOutputs, sigmas, i, sample);

        if (lowerOrderNums < solverOrder) lowerOrderNums++;
        StepIndex = i + 1;
        return new SchedulerStepOutput(prev.to(modelOutput.dtype).MoveToOuterDisposeScope());
    }

    /// <summary>α_t x_0 + σ_t ε with α_t, σ_t from the sigma at each timestep's position in the schedule (VP form).</summary>
    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        using var values = timesteps.flatten().to(ScalarType.Float64).cpu();
        var indices = values.data<double>().ToArray()
            .Select(t => BeginIndex is null ? IndexForTimestep(t) : StepIndex ?? BeginIndex.Value).ToArray();
        var shape = new long[originalSamples.dim()];
        Array.Fill(shape, 1L);
        shape[0] = -1;
        var alphas = indices.Select(k => 1f / MathF.Sqrt(sigmas[k] * sigmas[k] + 1f)).ToArray();
        var sigmaT = indices.Select((k, j) => sigmas[k] * alphas[j]).ToArray();
        var a = tensor(alphas, device: originalSamples.device).to(originalSamples.dtype).reshape(shape);
        var s = tensor(sigmaT, device: originalSamples.device).to(originalSamples.dtype).reshape(shape);
        return (a * originalSamples + s * noise).MoveToOuterDisposeScope();
    }

    // convert_model_output: x̂_0 for the ++ algorithms, ε̂ for the others.
    private Tensor ConvertModelOutput(Tensor modelOutput, Tensor sample, int i)
    {
        var (alphaT, sigmaT) = DpmSolverMath.AlphaSigma(sigmas[i]);
        if (Config.PredictionType == "epsilon" && Config.VarianceType is "learned" or "learned_range")
            modelOutput = modelOutput[.., ..3];   // learned-variance models (DeepFloyd IF) append the variance channels

        if (algorithm.EndsWith("++", StringComparison.Ordinal))
        {
            var x0 = Config.PredictionType switch
            {
                "epsilon" => (sample - sigmaT * modelOutput) / alphaT,
                "sample" => modelOutput.alias(),
                _ => alphaT * sample - sigmaT * modelOutput,   // v_prediction
            };
            return Config.Thresholding!.Value ? Threshold(x0) : x0;
        }

        var epsilon = Config.PredictionType switch
        {
            "epsilon" => modelOutput.alias(),
            "sample" => (sample - alphaT * modelOutput) / sigmaT,
            _ => alphaT * modelOutput + sigmaT * sample,       // v_prediction
        };
        if (!Config.Thresholding!.Value) return epsilon;
        var thresholded = Threshold((sample - sigmaT * epsilon) / alphaT);
        return (sample - alphaT * thresholded) / sigmaT;
    }

    private Tensor Threshold(Tensor x0) =>
        Thresholding.ThresholdSample(x0, Config.DynamicThresholdingRatio!.Value, Config.SampleMaxValue!.Value);

    // dpm_solver_first_order_update: DDIM for ++ (x_t = σ_t/σ_s x − α_t (e^{−h} − 1) x̂_0), and its SDE/ε variants.
    private Tensor FirstOrderUpdate(Tensor m, Tensor sample, Tensor? noise, int i)
    {
        var (alphaT, sigmaT) = DpmSolverMath.AlphaSigma(sigmas[i + 1]);
        var (alphaS, sigmaS) = DpmSolverMath.AlphaSigma(sigmas[i]);
        var h = DpmSolverMath.Lambda(alphaT, sigmaT) - DpmSolverMath.Lambda(alphaS, sigmaS);
        return algorithm switch
        {
            "dpmsolver++" => sigmaT / sigmaS * sample - alphaT * (MathF.Exp(-h) - 1f) * m,
            "dpmsolver" => alphaT / alphaS * sample - sigmaT * (MathF.Exp(h) - 1f) * m,
            "sde-dpmsolver++" => sigmaT / sigmaS * MathF.Exp(-h) * sample + alphaT * (1f - MathF.Exp(-2f * h)) * m
                                 + sigmaT * MathF.Sqrt(1f - MathF.Exp(-2f * h)) * noise!,
            _ => alphaT / alphaS * sample - 2f * (sigmaT * (MathF.Exp(h) - 1f)) * m
                 + sigmaT * MathF.Sqrt(MathF.Exp(2f * h) - 1f) * noise!,
        };
    }

    // index_for_timestep: the second match when a timestep repeats, the last step when it is not in the schedule.
    private int IndexForTimestep(double timestep)
    {
        var matches = Enumerable.Range(0, TimestepValues.Length).Where(k => TimestepValues[k] == timestep).Take(2).ToList();
        return matches.Count == 0 ? TimestepValues.Length - 1 : matches[^1];
    }

    private void ClearHistory()
    {
        for (var k = 0; k < modelOutputs.Length; k++)
        {
            modelOutputs[k]?.Dispose();
            modelOutputs[k] = null;
        }
    }

    protected override void Dispose(bool disposing)
    {
        ClearHistory();
        sigmasTensor?.Dispose();
        sigmasTensor = null;
    }
}
