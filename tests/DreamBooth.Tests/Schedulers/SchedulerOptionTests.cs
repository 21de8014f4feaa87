namespace DreamBooth.Tests.Schedulers;

using DreamBooth.Schedulers;
using static TorchSharp.torch;

/// <summary>Options the fixture configs leave at their defaults: thresholding, DDIM's η, Euler's churn.</summary>
public sealed class SchedulerOptionTests
{
    private static readonly SchedulerConfig Sd = new() { BetaStart = 0.00085, BetaEnd = 0.012, BetaSchedule = "scaled_linear", ClipSample = false };

    [Fact]
    public void DDPMScheduler_Thresholding_BoundsPredictedSample()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(11);
        var x = 3 * randn([2, 4, 8, 8], generator: g);
        var eps = randn([2, 4, 8, 8], generator: g);
        using var plain = new DDPMScheduler(Sd);
        using var thresholded = new DDPMScheduler(Sd with { Thresholding = true, SampleMaxValue = 2.0 });
        plain.SetTimesteps(10);
        thresholded.SetTimesteps(10);
        var raw = plain.Step(eps, 901, x, new Generator(1)).PredOriginalSample!;
        var bounded = thresholded.Step(eps, 901, x, new Generator(1)).PredOriginalSample!;
        Assert.True(raw.abs().max().item<float>() > 2);
        Assert.True(bounded.abs().max().item<float>() <= 1f + 1e-6f);

        // Per sample: s = clamp(quantile(|x0|, 0.995), 1, 2), x0 = clamp(x0, -s, s) / s.
        var s = raw.reshape(2, -1).abs().quantile(tensor(0.995f), dim: 1).clamp(1, 2.0).reshape(2, 1, 1, 1);
        Assert.Equal(0, (raw.clamp(-s, s) / s - bounded).abs().max().item<float>(), 6);
    }

    [Fact]
    public void DDIMScheduler_EtaOne_AddsGeneratorNoise()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(5);
        var x = randn([1, 4, 8, 8], generator: g);
        var eps = randn([1, 4, 8, 8], generator: g);
        using var deterministic = new DDIMScheduler(Sd);
        using var stochastic = new DDIMScheduler(Sd) { Eta = 1.0 };
        deterministic.SetTimesteps(10);
        stochastic.SetTimesteps(10);
        using var g1 = new Generator(9);
        using var g2 = new Generator(9);
        var a = deterministic.Step(eps, 901, x, g1).PrevSample;
        var b = stochastic.Step(eps, 901, x, g2).PrevSample;
        Assert.True((a - b).abs().max().item<float>() > 1e-3);
        // σ_t = η sqrt(β̃_t) times the generator's first draw.
        using var g3 = new Generator(9);
        var noise = randn([1, 4, 8, 8], generator: g3);
        var ac = deterministic.AlphasCumprod;
        float at = ac[901].item<float>(), ap = ac[801].item<float>();
        var sigma = MathF.Sqrt((1 - ap) / (1 - at) * (1 - at / ap));
        var direction = MathF.Sqrt(1 - ap - sigma * sigma) * eps;
        var x0 = (x - MathF.Sqrt(1 - at) * eps) / MathF.Sqrt(at);
        Assert.Equal(0, (MathF.Sqrt(ap) * x0 + direction + sigma * noise - b).abs().max().item<float>(), 5);
    }

    [Fact]
    public void EulerDiscreteScheduler_Churn_UsesTheDrawnNoise()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(2);
        var x = 14 * randn([1, 4, 8, 8], generator: g);
        var eps = randn([1, 4, 8, 8], generator: g);
        using var plain = new EulerDiscreteScheduler(Sd);
        using var churned = new EulerDiscreteScheduler(Sd) { SChurn = 1.0 };
        plain.SetTimesteps(10);
        churned.SetTimesteps(10);
        var t = plain.Timesteps[0];
        var a = plain.Step(eps, t, x, new Generator(4)).PrevSample;
        var b = churned.Step(eps, t, x, new Generator(4)).PrevSample;
        Assert.True((a - b).abs().max().item<float>() > 1e-3);
    }
}
