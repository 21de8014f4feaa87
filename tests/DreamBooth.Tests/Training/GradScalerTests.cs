namespace DreamBooth.Tests.Training;

using DreamBooth.Training;
using static TorchSharp.torch;
using AdamW = DreamBooth.Training.AdamW;
using Parameter = TorchSharp.Modules.Parameter;

public sealed class GradScalerTests
{
    [Fact]
    public void Defaults_AreTorchDefaults()
    {
        var s = new GradScaler();
        Assert.Equal(new GradScalerState(65536f, 2.0, 0.5, 2000, 0), s.State);
    }

    [Fact]
    public void ScaleLossThenStep_FiniteGrads_UnscalesAndSteps()
    {
        using var p = new Parameter(ones(2));
        using var opt = new AdamW([("p", p)], new AdamWOptions(LearningRate: 0.1, WeightDecay: 0));
        var scaler = new GradScaler(initScale: 1024);
        using var loss = (p * tensor(new[] { 2f, -3f })).sum();
        using var scaled = scaler.ScaleLoss(loss);
        scaled.backward();
        Assert.Equal([2048f, -3072f], p.grad!.data<float>().ToArray());
        Assert.True(scaler.Step(opt));
        Assert.Equal([2f, -3f], p.grad!.data<float>().ToArray());
        Assert.Equal([0.9f, 1.1f], p.data<float>().ToArray().Select(v => MathF.Round(v, 5)));
        scaler.Update();
        Assert.Equal(1024f, scaler.Scale);
        Assert.Equal(1, scaler.GrowthTracker);
    }

    [Fact]
    public void Step_InfGradient_SkipsStepAndBacksOff()
    {
        using var p = new Parameter(ones(2));
        using var opt = new AdamW([("p", p)]);
        var scaler = new GradScaler();
        p.grad = tensor(new[] { float.PositiveInfinity, 1f });
        Assert.True(scaler.Unscale(opt));
        Assert.False(scaler.Step(opt));
        Assert.Equal([1f, 1f], p.data<float>().ToArray());
        Assert.Equal(0, opt.StepCount(0));
        scaler.Update();
        Assert.Equal(32768f, scaler.Scale);
        Assert.Equal(0, scaler.GrowthTracker);
    }

    [Fact]
    public void Update_AfterGrowthIntervalCleanSteps_GrowsScale()
    {
        using var p = new Parameter(ones(1));
        using var opt = new AdamW([("p", p)]);
        var scaler = new GradScaler(initScale: 4, growthInterval: 3);
        for (int i = 0; i < 3; i++)
        {
            p.grad = ones(1);
            Assert.True(scaler.Step(opt));
            scaler.Update();
        }
        Assert.Equal(8f, scaler.Scale);
        Assert.Equal(0, scaler.GrowthTracker);
        p.grad = tensor(new[] { float.NaN });
        scaler.Step(opt);
        scaler.Update();
        Assert.Equal(4f, scaler.Scale);
    }

    [Fact]
    public void Update_MixedInfPattern_FollowsTorchScaleSequence()
    {
        // Sequence printed by torch 2.11 torch.amp.GradScaler("cuda", init_scale=4, growth_interval=3) for this pattern.
        int[] bad = [0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0];
        float[] expected = [4, 4, 8, 4, 4, 4, 8, 8, 4, 2, 2, 2, 4];
        using var p = new Parameter(ones(1));
        using var opt = new AdamW([("p", p)]);
        var scaler = new GradScaler(initScale: 4, growthInterval: 3);
        var scales = new List<float>();
        foreach (var b in bad)
        {
            p.grad = tensor(new[] { b == 1 ? float.PositiveInfinity : 1f });
            Assert.Equal(b == 0, scaler.Step(opt));
            scaler.Update();
            scales.Add(scaler.Scale);
        }
        Assert.Equal(expected, scales);
        Assert.Equal(bad.Count(b => b == 0), opt.StepCount(0));
    }

    [Fact]
    public void Misuse_UnscaleTwiceOrUpdateWithoutStep_Throws()
    {
        using var p = new Parameter(ones(1));
        p.grad = ones(1);
        using var opt = new AdamW([("p", p)]);
        var scaler = new GradScaler();
        Assert.Throws<InvalidOperationException>(scaler.Update);
        scaler.Unscale(opt);
        Assert.Throws<InvalidOperationException>(() => scaler.Unscale(opt));
        scaler.Step(opt);
        Assert.Throws<InvalidOperationException>(() => scaler.Step(opt));
        scaler.Update();
    }

    [Fact]
    public void Load_SavedState_RestoresScaleAndTracker()
    {
        var state = new GradScalerState(512f, 4.0, 0.25, 10, 7);
        var scaler = new GradScaler();
        scaler.Load(state);
        Assert.Equal(state, scaler.State);
        var json = System.Text.Json.JsonSerializer.Serialize(state);
        Assert.Equal(state, System.Text.Json.JsonSerializer.Deserialize<GradScalerState>(json));
        Assert.Throws<DreamBoothException>(() => scaler.Load(state with { GrowthTracker = 10 }));
    }

    [Fact]
    public void Disabled_PassesThrough()
    {
        using var p = new Parameter(ones(1));
        p.grad = ones(1);
        using var opt = new AdamW([("p", p)], new AdamWOptions(LearningRate: 0.1));
        var scaler = new GradScaler(enabled: false);
        using var loss = tensor(3f);
        using var scaled = scaler.ScaleLoss(loss);
        Assert.Equal(3f, scaled.item<float>());
        Assert.Equal(1f, scaler.Scale);
        Assert.True(scaler.Step(opt));
        Assert.Equal(1, opt.StepCount(0));
        scaler.Update();
    }
}
