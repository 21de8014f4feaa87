// Mirrors diffusers src/diffusers/schedulers/scheduling_lms_discrete.py::LMSDiscreteScheduler (v0.27.2).
namespace DreamBooth.Schedulers;

using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Linear multistep (k-diffusion's sample_lms): x' = x + Σ_j c_j d_{i−j}, with d = (x − x̂_0)/σ the ODE derivatives of
/// the last (up to 4) steps and c_j = ∫_{σ_i}^{σ_{i+1}} ℓ_j(τ) dτ, ℓ_j the Lagrange basis polynomial through σ_i..σ_{i−k+1}.
/// diffusers integrates with scipy.integrate.quad (QUADPACK qags) of an integrand evaluated in float32 torch scalars; the
/// integrand is a polynomial of degree ≤ 3, so qags stops after its first 21-point Gauss–Kronrod rule, which
/// <see cref="LmsCoefficient"/> reproduces (float32 integrand, float64 sums in QUADPACK's order).
/// </summary>
public sealed class LMSDiscreteScheduler : DiscreteSigmaScheduler
{
    public static SchedulerConfig Defaults { get; } = new()
    {
        NumTrainTimesteps = 1000, BetaStart = 0.0001, BetaEnd = 0.02, BetaSchedule = "linear", UseKarrasSigmas = false,
        PredictionType = "epsilon", TimestepSpacing = "linspace", StepsOffset = 0,
    };

    private readonly List<Tensor> derivatives = [];   // oldest first

    public LMSDiscreteScheduler(SchedulerConfig? config = null) : base(config, Defaults, terminalAlphaFloor: false) =>
        PredictionTypes.Check(Name, Config.PredictionType, allowSample: true);

    /// <summary>Maximum multistep order (diffusers' step(order=4)).</summary>
    public int LmsOrder { get; init; } = 4;

    public override void SetTimesteps(int numInferenceSteps, Device? device = null)
    {
        CheckStepCount(numInferenceSteps);
        NumInferenceSteps = numInferenceSteps;
        var timesteps = TimestepSpacing.Sigma(Config, Name, numInferenceSteps);
        var sigmas = InterpolatedSigmas(timesteps);
        var dtype = ScalarType.Float32;
        if (Config.UseKarrasSigmas!.Value)
        {
            sigmas = KarrasSigmas(sigmas, numInferenceSteps, useConfigBounds: false);
            timesteps = sigmas.Select(s => ScheduleMath.SigmaToT(s, LogTrainingSigmas)).ToArray();
            dtype = ScalarType.Float64;   // diffusers keeps these float64 here (Euler casts them to float32)
        }
        SetSamplingSigmas(sigmas);
        SetTimestepTensor(timesteps, dtype, device);
        DisposeAll(derivatives);
    }

    public override SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null)
    {
        CheckTimestepsSet();
        using var scope = NewDisposeScope();
        StepIndex ??= InitialStepIndex(timestep);
        var i = StepIndex.Value;
        var sigma = SigmaAt(i);

        // 1. x̂_0 from the model output
        var predOriginal = Config.PredictionType switch
        {
            "epsilon" => sample - sigma * modelOutput,
            "sample" => modelOutput.alias(),
            _ => modelOutput * (-sigma / MathF.Sqrt(sigma * sigma + 1f)) + sample / (sigma * sigma + 1f),   // v_prediction
        };

        // 2. ODE derivative, kept for the multistep history
        var derivative = (sample - predOriginal) / sigma;
        derivatives.Add(Keep(derivative));
        if (derivatives.Count > LmsOrder)
        {
            derivatives[0].Dispose();
            derivatives.RemoveAt(0);
        }

        // 3. x' = x + Σ_j c_j d_{i−j} (newest derivative first)
        var order = Math.Min(i + 1, LmsOrder);
        Tensor? sum = null;
        for (var j = 0; j < order; j++)
        {
            var term = LmsCoefficient(order, i, j) * derivatives[derivatives.Count - 1 - j];
            sum = sum is null ? term : sum + term;
        }
        var prev = sample + sum!;
        StepIndex = i + 1;
        return new SchedulerStepOutput(prev.MoveToOuterDisposeScope(), predOriginal.MoveToOuterDisposeScope());
    }

    /// <summary>c = ∫ from σ_t to σ_{t+1} of Π_{k≠current} (τ − σ_{t−k}) / (σ_{t−current} − σ_{t−k}) dτ.</summary>
    private double LmsCoefficient(int order, int t, int currentOrder)
    {
        var s = SamplingSigmas;
        double Integrand(double tau)
        {
            if (order == 1) return 1.0;   // the Python product never leaves its float 1.0
            var tau32 = (float)tau;       // tau − (0-dim float32 tensor) computes in float32
            float? prod = null;
            for (var k = 0; k < order; k++)
            {
                if (k == currentOrder) continue;
                var factor = (tau32 - s[t - k]) / (s[t - currentOrder] - s[t - k]);
                prod = prod is null ? factor : prod.Value * factor;
            }
            return prod!.Value;
        }
        return GaussKronrod21(Integrand, s[t], s[t + 1]);
    }

    // QUADPACK dqk21: 21-point Kronrod extension of the 10-point Gauss rule on [a, b]; abscissae descending, the last is 0.
    private static readonly double[] Xgk =
    [
        0.995657163025808080735527280689003, 0.973906528517171720077964012084452, 0.930157491355708226001207180059508,
        0.865063366688984510732096688423493, 0.780817726586416897063717578345042, 0.679409568299024406234327365114874,
        0.562757134668604683339000099272694, 0.433395394129247190799265943165784, 0.294392862701460198131126603103866,
        0.148874338981631210884826001129720, 0.0,
    ];

    private static readonly double[] Wgk =
    [
        0.011694638867371874278064396062192, 0.032558162307964727478818972459390, 0.054755896574351996031381300244580,
        0.075039674810919952767043140916190, 0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
        0.123491976262065851077208067616419, 0.134709217311473325928054001771707, 0.142775938577060080797094273138717,
        0.147739104901338491374841515972068, 0.149445554002916905664936468389821,
    ];

    private static double GaussKronrod21(Func<double, double> f, double a, double b)
    {
        var center = 0.5 * (a + b);
        var halfLength = 0.5 * (b - a);
        var result = Wgk[10] * f(center);
        // QUADPACK adds the Gauss nodes (odd 0-based indices) first, then the Kronrod-only ones.
        foreach (var start in new[] { 1, 0 })
        {
            for (var j = start; j < 10; j += 2)
            {
                var abscissa = halfLength * Xgk[j];
                result += Wgk[j] * (f(center - abscissa) + f(center + abscissa));
            }
        }
        return result * halfLength;
    }

    protected override void Dispose(bool disposing)
    {
        DisposeAll(derivatives);
        base.Dispose(disposing);
    }
}
