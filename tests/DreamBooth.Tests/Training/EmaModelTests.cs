namespace DreamBooth.Tests.Training;

using System.Text.Json.Nodes;
using DreamBooth.IO;
using DreamBooth.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

/// <summary>The EMA against diffusers' EMAModel formulas (v0.27.2, no warm-up), recomputed in float64.</summary>
[Collection(nameof(ProcessWideState))]   // nn.Linear draws its initial weights from torch's global generator
public sealed class EmaModelTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("ema").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Theory]
    [InlineData(1, 0.9999, 0.0)]                       // the first update copies the weights
    [InlineData(2, 0.9999, 2.0 / 11)]                  // s = 1: (1 + 1)/(10 + 1)
    [InlineData(10, 0.9999, 10.0 / 19)]
    [InlineData(100_000, 0.9999, 0.9999)]              // (1 + s)/(10 + s) = 0.99991 > decay
    [InlineData(5, 0.25, 0.25)]
    [InlineData(0, 0.9999, 0.0)]
    public void DecayAt_IsMinOfDecayAndOnePlusStepOverTenPlusStep(int optimizationStep, double decay, double expected) =>
        Assert.Equal(expected, EmaModel.DecayAt(optimizationStep, decay), 15);

    // A model with a frozen part: the average follows the trainable weights only.
    private static Sequential Model()
    {
        var model = nn.Sequential(("a", nn.Linear(5, 4)), ("b", nn.Linear(4, 3)));
        foreach (var (name, p) in model.named_parameters())
            if (name.StartsWith("b.", StringComparison.Ordinal)) p.requires_grad = false;
        return model;
    }

    [Fact]
    public void Step_KUpdates_EqualTheFloat64Recurrence()
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        var model = Model();
        using var ema = new EmaModel(model, decay: 0.9);
        var trained = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        Assert.Equal(["a.weight", "a.bias"], trained.Select(p => p.name));
        Assert.Equal(["a.weight", "a.bias"], ema.Averages.Select(a => a.Name));
        var expected = trained.ToDictionary(p => p.name, p => p.parameter.detach().to(ScalarType.Float64).clone());
        using var g = new Generator(3);
        const int k = 40;                                                   // past the step where the cap 0.9 takes over
        for (int step = 1; step <= k; step++)
        {
            using (no_grad())
                foreach (var (_, p) in trained) p.add_(randn(p.shape, generator: g));   // an "optimizer step"
            ema.Step();
            double decay = step == 1 ? 0 : Math.Min(0.9, (double)step / (9 + step));
            foreach (var (name, p) in trained)
                expected[name] = expected[name] - (1 - decay) * (expected[name] - p.detach().to(ScalarType.Float64));
        }
        Assert.Equal(k, ema.OptimizationStep);
        foreach (var (name, average) in ema.Averages)
        {
            Assert.Equal(ScalarType.Float32, average.dtype);
            var error = TensorAssert.MaxAbsDiff(average, expected[name]);
            Assert.True(error < 1e-5, $"{name}: EMA off the float64 recurrence by {error}");
            Assert.True(TensorAssert.MaxAbsDiff(average, trained.Single(p => p.name == name).parameter) > 0.1, $"{name}: the EMA just follows the weights");
        }
    }

    [Fact]
    public void WithAverages_ValidatesOnTheAverageThenRestoresTheWeightsBitForBit()
    {
        using var scope = NewDisposeScope();
        manual_seed(12);
        var model = Model();
        using var ema = new EmaModel(model, decay: 0.99);
        var weight = model.named_parameters().First().parameter;
        for (int i = 0; i < 3; i++)
        {
            using (no_grad()) weight.mul_(1.5);
            ema.Step();
        }
        var trained = weight.detach().clone();
        var seen = ema.WithAverages(() => weight.detach().clone());
        Assert.True(TensorAssert.Same(seen, ema.Averages.First().Average), "the action did not run on the averages");
        Assert.False(TensorAssert.Same(seen, trained));
        Assert.True(TensorAssert.Same(weight, trained), "the trained weights were not restored");
    }

    [Fact]
    public void SavePretrained_DiffusersLayout_LoadsBackBitForBit()
    {
        using var scope = NewDisposeScope();
        manual_seed(13);
        var config = Path.Combine(dir, "model-config.json");
        File.WriteAllText(config, """{"_class_name": "UNet2DConditionModel", "sample_size": 8}""");
        var model = Model();
        using var ema = new EmaModel(model, decay: 0.995, config);
        using var g = new Generator(4);
        for (int i = 0; i < 4; i++)
        {
            using (no_grad())
                foreach (var p in model.parameters().Where(p => p.requires_grad)) p.add_(randn(p.shape, generator: g));
            ema.Step();
        }
        var saved = Path.Combine(dir, EmaModel.UnetFolder);
        ema.SavePretrained(saved);

        // As diffusers' EMAModel.save_pretrained: the model's config plus the EMA's state, and every weight of the model.
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(saved, "config.json")))!.AsObject();
        Assert.Equal("UNet2DConditionModel", (string?)json["_class_name"]);
        Assert.Equal(8, (int?)json["sample_size"]);
        Assert.Equal(0.995, (double?)json["decay"]);
        Assert.Equal(4, (int?)json["optimization_step"]);
        Assert.Equal(0.0, (double?)json["min_decay"]);
        Assert.Equal(0, (int?)json["update_after_step"]);
        Assert.False((bool?)json["use_ema_warmup"]);
        Assert.Equal(1.0, (double?)json["inv_gamma"]);
        Assert.Equal(2.0 / 3, (double?)json["power"]);
        using (var weights = SafeTensorsFile.Open(Path.Combine(saved, EmaModel.WeightsFile)))
        {
            Assert.Equal(model.state_dict().Keys.Order(), weights.Tensors.Select(t => t.Name).Order());
            foreach (var (name, average) in ema.Averages) Assert.True(TensorAssert.Same(average, weights.Read(name)), name);
            Assert.True(TensorAssert.Same(model.state_dict()["b.weight"], weights.Read("b.weight")), "a frozen weight is saved as it is");
        }

        manual_seed(14);
        var other = Model();
        using var loaded = new EmaModel(other, decay: 0.5);
        loaded.LoadPretrained(saved);
        Assert.Equal((0.995, 4), (loaded.Decay, loaded.OptimizationStep));   // the checkpoint's decay, as diffusers' load hook
        foreach (var ((name, a), (_, b)) in ema.Averages.Zip(loaded.Averages)) Assert.True(TensorAssert.Same(a, b), name);
    }

    [Fact]
    public void LoadPretrained_FolderWithoutEma_OneLineError()
    {
        using var scope = NewDisposeScope();
        using var ema = new EmaModel(Model(), decay: 0.9);
        var e = Assert.Throws<DreamBoothException>(() => ema.LoadPretrained(Path.Combine(dir, "checkpoint-2", EmaModel.UnetFolder)));
        Assert.Contains("no EMA weights", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }
}
