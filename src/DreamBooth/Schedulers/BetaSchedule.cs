// Mirrors the training noise schedule code every diffusers scheduler copies into its __init__:
// betas by beta_schedule, betas_for_alpha_bar (squaredcos_cap_v2) and rescale_zero_terminal_snr.
namespace DreamBooth.Schedulers;

using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// β and ᾱ tables in float32, reproducing PyTorch's CPU results bit for bit (torch.linspace and torch.cumprod are
/// emulated in <see cref="ScheduleMath"/>; the remaining element-wise float32 ops are exact IEEE operations).
/// </summary>
internal static class BetaSchedule
{
    /// <summary>β_1..β_T, optionally rescaled to zero terminal SNR.</summary>
    public static float[] Betas(SchedulerConfig config, string className, bool allowSigmoid, bool rescaleZeroTerminalSnr)
    {
        var betas = ConfiguredBetas(config, className, allowSigmoid);
        return rescaleZeroTerminalSnr ? RescaleZeroTerminalSnr(betas) : betas;
    }

    /// <summary>ᾱ_t = Π_{s≤t} (1 − β_s).</summary>
    public static float[] AlphasCumprod(float[] betas) => ScheduleMath.TorchCumprod(betas.Select(b => 1f - b).ToArray());

    private static float[] ConfiguredBetas(SchedulerConfig config, string className, bool allowSigmoid)
    {
        var steps = config.NumTrainTimesteps!.Value;
        var start = config.BetaStart!.Value;
        var end = config.BetaEnd!.Value;
        if (config.TrainedBetas is { } trained)
            return trained.Select(b => (float)b).ToArray();
        return config.BetaSchedule switch
        {
            "linear" => ScheduleMath.TorchLinspace(start, end, steps),
            // SD's schedule: linear in sqrt(β). Python computes the roots with pow(x, 0.5), not sqrt.
            "scaled_linear" => ScheduleMath.TorchLinspace(Math.Pow(start, 0.5), Math.Pow(end, 0.5), steps).Select(b => b * b).ToArray(),
            "squaredcos_cap_v2" => BetasForAlphaBar(steps),
            "sigmoid" when allowSigmoid => Sigmoid(ScheduleMath.TorchLinspace(-6, 6, steps), start, end),
            _ => throw new DreamBoothException($"{className}: beta_schedule '{config.BetaSchedule}' is not supported."),
        };
    }

    // DDPM's sigmoid schedule: sigmoid(linspace(-6, 6)) * (β_end − β_start) + β_start, with torch's sigmoid kernel.
    private static float[] Sigmoid(float[] x, double start, double end)
    {
        using var scope = NewDisposeScope();
        var t = tensor(x).sigmoid() * (end - start) + start;
        return t.data<float>().ToArray();
    }

    // Cosine schedule (Nichol & Dhariwal 2021), β capped at 0.999; float64 math, float32 result.
    private static float[] BetasForAlphaBar(int steps, double maxBeta = 0.999)
    {
        static double AlphaBar(double t) => Math.Pow(Math.Cos((t + 0.008) / 1.008 * Math.PI / 2), 2);
        var betas = new float[steps];
        for (var i = 0; i < steps; i++)
        {
            double t1 = (double)i / steps, t2 = (double)(i + 1) / steps;
            betas[i] = (float)Math.Min(1 - AlphaBar(t2) / AlphaBar(t1), maxBeta);
        }
        return betas;
    }

    // Lin et al. 2023 ("Common Diffusion Noise Schedules and Sample Steps are Flawed"), Algorithm 1: shift and scale
    // sqrt(ᾱ) so that its last value is exactly 0 while the first is unchanged, then undo the cumprod.
    private static float[] RescaleZeroTerminalSnr(float[] betas)
    {
        var sqrtBar = AlphasCumprod(betas).Select(MathF.Sqrt).ToArray();
        float first = sqrtBar[0], last = sqrtBar[^1];
        var scale = first / (first - last);
        var alphasBar = sqrtBar.Select(a => (a - last) * scale).Select(a => a * a).ToArray();
        var alphas = new float[betas.Length];
        alphas[0] = alphasBar[0];
        for (var i = 1; i < alphas.Length; i++) alphas[i] = alphasBar[i] / alphasBar[i - 1];
        return alphas.Select(a => 1f - a).ToArray();
    }
}
