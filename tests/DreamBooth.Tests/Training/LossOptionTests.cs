namespace DreamBooth.Tests.Training;

using DreamBooth.Schedulers;
using DreamBooth.Training;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>min-SNR weighting and offset noise against their formulas (the offset draws from torch's global generator).</summary>
[Collection(nameof(ProcessWideState))]
public sealed class LossOptionTests
{
    private static ITrainingNoiseScheduler Scheduler(string prediction) => (ITrainingNoiseScheduler)SchedulerRegistry.Create("DDPMScheduler",
        SchedulerConfig.Parse($$"""{"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "prediction_type": "{{prediction}}"}"""));

    [Fact]
    public void Snr_IsAlphaBarOverOneMinusAlphaBar()
    {
        using var scope = NewDisposeScope();
        using var scheduler = Scheduler("epsilon");
        var t = tensor(new long[] { 0, 10, 500, 999 });
        var snr = TrainingStep.Snr(scheduler, t).to(ScalarType.Float64);
        var a = scheduler.AlphasCumprod.to(ScalarType.Float64)[t];
        Assert.True(snr.allclose(a / (1 - a), 1e-5, 0), $"{snr.str()} vs {(a / (1 - a)).str()}");
    }

    [Theory]
    [InlineData("epsilon", 5.0)]
    [InlineData("v_prediction", 5.0)]
    [InlineData("epsilon", 0.5)]
    public void MinSnrLoss_WeightsEachSampleByMinSnrGammaOverSnr(string prediction, double gamma)
    {
        using var scope = NewDisposeScope();
        using var scheduler = Scheduler(prediction);
        using var g = new Generator(9);
        var pred = randn([3, 4, 5, 5], generator: g);
        var target = randn([3, 4, 5, 5], generator: g);
        var t = tensor(new long[] { 20, 400, 950 });
        double expected = 0;
        for (int i = 0; i < 3; i++)
        {
            double abar = scheduler.AlphasCumprod[t[i]].item<float>();
            double snr = abar / (1 - abar);
            double w = Math.Min(snr, gamma) / snr + (prediction == "v_prediction" ? 1 : 0);
            expected += w * (pred[i] - target[i]).pow(2).mean().item<float>() / 3;
        }
        var actual = TrainingStep.MinSnrLoss(scheduler, pred, target, t, gamma).item<float>();
        Assert.Equal(expected, actual, 1e-5 * Math.Abs(expected));
        // γ above every SNR in the batch: plain MSE (epsilon).
        if (prediction == "epsilon")
            Assert.Equal(nn.functional.mse_loss(pred, target).item<float>(), TrainingStep.MinSnrLoss(scheduler, pred, target, t, 1e9).item<float>(), 1e-5);
    }

    [Fact]
    public void OffsetNoise_AddsOneGlobalDrawPerImageAndChannel()
    {
        using var scope = NewDisposeScope();
        var noise = randn(2, 4, 6, 6);
        manual_seed(5);
        var offset = TrainingStep.OffsetNoise(noise, 0.1);
        manual_seed(5);
        var expected = noise + 0.1 * randn(2, 4, 1, 1);
        Assert.True(offset.allclose(expected, 0, 0));
        var shift = offset - noise;                                                        // constant over H and W
        Assert.True((shift - shift[.., .., ..1, ..1]).abs().max().item<float>() < 1e-6);
    }
}
