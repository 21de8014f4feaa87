namespace DreamBooth.Tests.ToyWorld;

using System.Text.Json.Nodes;
using DreamBooth.ToyWorld;
using DreamBooth.Tests.Training;

/// <summary>The demo at tiny size: every output written, metrics in range, and the same seed gives the same metrics.json.</summary>
// Training seeds and draws from torch's process-wide generator: run alone, as the trainer's own tests do.
[Collection(TrainingRuns.Name)]
public sealed class ToyDemoTests(TinyToyBaseFixture tinyBase) : IClassFixture<TinyToyBaseFixture>, IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("toy-demo").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private ToyDemoOptions Tiny(string output, int seed = 3) => new()
    {
        BaseModel = tinyBase.Path, OutputDir = Path.Combine(dir, output), Seed = seed, TrainSteps = 2, FullTrainSteps = 2, NumClassImages = 2,
        ClassInferenceSteps = 2, ImagesPerPrompt = 2, InferenceSteps = 2, ClassifierSteps = 5, InstanceImages = 3,
    };

    [Fact]
    public void TinyRun_WritesEverything_AndSameSeedGivesByteEqualMetrics()
    {
        var stages = new List<string>();
        var a = ToyDemo.Run(Tiny("a"), new SyncProgress<ToyDemoProgress>(p => stages.Add(p.Stage)));
        var b = ToyDemo.Run(Tiny("b"));
        Assert.Equal(File.ReadAllBytes(a.MetricsPath), File.ReadAllBytes(b.MetricsPath));
        Assert.Equal(["classifier", "class images", "lora", "lora-prior", "full", "full-prior", "sample", "done"], stages.Distinct());

        var json = JsonNode.Parse(File.ReadAllText(a.MetricsPath))!;
        Assert.Equal(ToyDemo.RunNames, json["runs"]!.AsObject().Select(r => r.Key));
        foreach (var (_, run) in json["runs"]!.AsObject())
            foreach (var (key, _) in ToyDemo.MetricMeanings)
                Assert.InRange(run![key]!.GetValue<double>(), 0, 1);
        Assert.Equal(0, json["runs"]!["base"]!["class_prior_drift"]!.GetValue<double>());
        // 3 instance images on 3 of the 5 backgrounds: 2 held-out contexts, then the class and the unrelated prompt.
        Assert.Equal(2, json["settings"]!["held_out_backgrounds"]!.AsArray().Count);
        Assert.Equal(4, json["settings"]!["prompts"]!.AsArray().Count);
        Assert.Equal("a photo of a box", json["settings"]!["prompts"]![2]!.GetValue<string>());

        Assert.Equal(3, Directory.GetFiles(Path.Combine(a.OutputDir, "instance"), "*.png").Length);
        Assert.Equal(3, Directory.GetFiles(Path.Combine(a.OutputDir, "instance"), "*.txt").Length);     // their captions
        Assert.Equal(2, Directory.GetFiles(Path.Combine(a.OutputDir, "class-images")).Length);
        var html = File.ReadAllText(a.ReportPath);
        foreach (var name in ToyDemo.RunNames)
            for (int k = 0; k < 4; k++)
            {
                Assert.True(File.Exists(Path.Combine(a.OutputDir, "grids", name, $"{k:00}.png")));
                Assert.Contains($"grids/{name}/{k:00}.png", html);
            }
        foreach (var name in ToyDemo.RunNames.Skip(1))
        {
            Assert.True(File.Exists(Path.Combine(a.OutputDir, "runs", name, "loss.png")));
            Assert.Contains($"runs/{name}/loss.png", html);
        }
        Assert.Contains("instance/02.png", html);
        foreach (var (key, _) in ToyDemo.MetricMeanings) Assert.Contains(key, html);
    }

    [Fact]
    public void MissingBase_IsAnInputError()
    {
        var e = Assert.Throws<DreamBoothException>(() => ToyDemo.Run(Tiny("x") with { BaseModel = Path.Combine(dir, "nope") }));
        Assert.Contains("toyworld pretrain", e.Message);
        Assert.Throws<DreamBoothException>(() => ToyDemo.Run(Tiny("x") with { ImagesPerPrompt = 1 }));
    }
}
