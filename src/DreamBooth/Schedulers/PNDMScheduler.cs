// Mirrors diffusers src/diffusers/schedulers/scheduling_pndm.py::PNDMScheduler (v0.27.2).
namespace DreamBooth.Schedulers;

using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Pseudo numerical methods (Liu et al. 2022): a linear multistep (PLMS, Adams–Bashforth up to 4th order) on the ε
/// outputs, with the DDIM-style transfer φ(x_t, ε, t → t') of eq. 11. Without <c>skip_prk_steps</c> the first 3 steps
/// use pseudo Runge–Kutta (4 UNet calls each). SD 1.x configs set <c>skip_prk_steps</c>: the very first step is taken
/// twice (timestep repeated, N + 1 UNet calls) to average ε_0 and ε_1, then PLMS uses the history <c>ets</c>.
/// Notation: ᾱ_t = alphas_cumprod[t], t' = previous timestep, ᾱ_t' for t' &lt; 0 is final_alpha_cumprod.
/// </summary>
public sealed class PNDMScheduler : SchedulerBase
{
    public static SchedulerConfig Defaults { get; } = new()
    {
        NumTrainTimesteps = 1000, BetaStart = 0.0001, BetaEnd = 0.02, BetaSchedule = "linear", SkipPrkSteps = false,
        SetAlphaToOne = false, PredictionType = "epsilon", TimestepSpacing = "leading", StepsOffset = 0,
    };

    private const int PndmOrder = 4;
    private readonly float finalAlphaCumprod;
    private readonly List<Tensor> ets = [];   // ε history, oldest first (at most 4 kept)
    private long[] prkTimesteps = [];
    private Tensor? curModelOutput;           // PRK: running weighted sum of the 4 evaluations
    private Tensor? curSample;                // x at the start of the current (PRK or first PLMS) step
    private int counter;

    public PNDMScheduler(SchedulerConfig? config = null) : base(config, Defaults)
    {
        if (Config.PredictionType is not ("epsilon" or "v_prediction"))
            throw new DreamBoothException($"{Name}: prediction_type '{Config.PredictionType}' is not supported; use epsilon or v_prediction.");
        finalAlphaCumprod = Config.SetAlphaToOne!.Value ? 1f : AlphasCumprodTable[0];
    }

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        CheckStepCount(numInferenceSteps);
        NumInferenceSteps = numInferenceSteps;
        var ascending = TimestepSpacing.DiscreteAscending(Config, Name, numInferenceSteps);
        double[] plms;
        if (Config.SkipPrkSteps!.Value)
        {
            // [t_0 .. t_{N-2}, t_{N-2}, t_{N-1}] reversed: the step after the first one repeats its timestep.
            prkTimesteps = [];
            plms = Reverse([.. ascending[..^1], .. ascending[Math.Max(0, ascending.Length - 2)..^1], ascending[^1]]);
        }
        else
        {
            if (numInferenceSteps < PndmOrder)
                throw new DreamBoothException($"{Name}: pseudo Runge–Kutta steps need at least {PndmOrder} inference steps (or skip_prk_steps).");
            // The last 4 timesteps, each followed by its midpoint (t + T/N/2), then de-duplicated into the PRK order.
            var half = NumTrainTimesteps / numInferenceSteps / 2;
            var pairs = ascending[^PndmOrder..].SelectMany(t => new[] { (long)t, (long)t + half }).ToArray();
            var repeated = pairs[..^1].SelectMany(t => new[] { t, t }).ToArray();
            prkTimesteps = repeated[1..^1].Reverse().ToArray();
            plms = Reverse(ascending[..^3]);
        }
        SetTimestepTensor([.. prkTimesteps.Select(t => (double)t), .. plms], ScalarType.Int64, device);
        ResetState();
    }

    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null)
    {
        CheckTimestepsSet();
        using var scope = NewDisposeScope();
        var prev = counter < prkTimesteps.Length && !Config.SkipPrkSteps!.Value
            ? StepPrk(modelOutput, (long)timestep, sample)
            : StepPlms(modelOutput, (long)timestep, sample);
        counter++;
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope());
    }

    public override Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps) => AddNoiseAlphas(originalSamples, noise, timesteps);

    // Pseudo Runge–Kutta: evaluations at t, t − δ/2 (twice) and t − δ combined with weights 1/6, 1/3, 1/3, 1/6.
    private Tensor StepPrk(Tensor modelOutput, long timestep, Tensor sample)
    {
        var diffToPrev = counter % 2 == 1 ? 0 : NumTrainTimesteps / NumInferenceSteps!.Value / 2;
        var prevTimestep = timestep - diffToPrev;
        timestep = prkTimesteps[counter / 4 * 4];

        switch (counter % 4)
        {
            case 0:
                ReplaceCurModelOutput(Add(curModelOutput, 1.0 / 6 * modelOutput));
                ets.Add(Keep(modelOutput));
                Replace(ref curSample, Keep(sample));
                break;
            case 1:
            case 2:
                ReplaceCurModelOutput(Add(curModelOutput, 1.0 / 3 * modelOutput));
                break;
            default:
                modelOutput = Add(curModelOutput, 1.0 / 6 * modelOutput);
                ReplaceCurModelOutput(null);
                break;
        }
        return PrevSample(curSample ?? sample, timestep, prevTimestep, modelOutput);
    }

    // Linear multistep on ε: orders 1 (first step, averaged with its repeat), 2, 3, 4 (eq. 12 of the PNDM paper).
    private Tensor StepPlms(Tensor modelOutput, long timestep, Tensor sample)
    {
        if (!Config.SkipPrkSteps!.Value && ets.Count < 3)
            throw new InvalidOperationException($"{Name}: PLMS needs the 3 pseudo Runge–Kutta steps first (12 UNet evaluations).");

        var delta = NumTrainTimesteps / NumInferenceSteps!.Value;
        var prevTimestep = timestep - delta;
        if (counter != 1)
        {
            while (ets.Count > 3) { ets[0].Dispose(); ets.RemoveAt(0); }
            ets.Add(Keep(modelOutput));
        }
        else
        {
            // The repeated timestep: redo the first step from its start with the mean of both ε.
            prevTimestep = timestep;
            timestep += delta;
        }

        Tensor eps;
        if (ets.Count == 1 && counter == 0)
        {
            eps = modelOutput;
            Replace(ref curSample, Keep(sample));
        }
        else if (ets.Count == 1 && counter == 1)
        {
            eps = (modelOutput + ets[^1]) / 2;
            sample = curSample!.alias();
            Replace(ref curSample, null);
        }
        else if (ets.Count == 2)
            eps = (3 * ets[^1] - ets[^2]) / 2;
        else if (ets.Count == 3)
            eps = (23 * ets[^1] - 16 * ets[^2] + 5 * ets[^3]) / 12;
        else
            eps = 1.0 / 24 * (55 * ets[^1] - 59 * ets[^2] + 37 * ets[^3] - 9 * ets[^4]);
        return PrevSample(sample, timestep, prevTimestep, eps);
    }

    // φ of eq. 11: x_t' = sqrt(ᾱ_t'/ᾱ_t) x_t − (ᾱ_t' − ᾱ_t) ε / (ᾱ_t sqrt(1 − ᾱ_t') + sqrt(ᾱ_t (1 − ᾱ_t) ᾱ_t')).
    private Tensor PrevSample(Tensor sample, long timestep, long prevTimestep, Tensor modelOutput)
    {
        var alphaProdT = AlphaProd(timestep);
        var alphaProdTPrev = prevTimestep >= 0 ? AlphaProd(prevTimestep) : finalAlphaCumprod;
        var betaProdT = 1f - alphaProdT;
        var betaProdTPrev = 1f - alphaProdTPrev;
        if (Config.PredictionType == "v_prediction")
            modelOutput = MathF.Sqrt(alphaProdT) * modelOutput + MathF.Sqrt(betaProdT) * sample;   // v → ε

        var sampleCoeff = MathF.Sqrt(alphaProdTPrev / alphaProdT);
        var denomCoeff = alphaProdT * MathF.Sqrt(betaProdTPrev) + MathF.Sqrt(alphaProdT * betaProdT * alphaProdTPrev);
        return sampleCoeff * sample - (alphaProdTPrev - alphaProdT) * modelOutput / denomCoeff;
    }

    private static Tensor Add(Tensor? sum, Tensor term) => sum is null ? term : sum + term;

    private void ReplaceCurModelOutput(Tensor? value) => Replace(ref curModelOutput, value is null ? null : Keep(value));

    private static void Replace(ref Tensor? slot, Tensor? value)
    {
        slot?.Dispose();
        slot = value;
    }

    private static double[] Reverse(double[] x) => ScheduleMath.Reverse(x);

    private void ResetState()
    {
        DisposeAll(ets);
        Replace(ref curModelOutput, null);
        Replace(ref curSample, null);
        counter = 0;
    }

    protected override void Dispose(bool disposing) => ResetState();
}
