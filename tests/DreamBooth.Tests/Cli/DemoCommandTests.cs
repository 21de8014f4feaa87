namespace DreamBooth.Tests.Cli;

using DreamBooth.Tests.ToyWorld;
using DreamBooth.Tests.Training;

// Training seeds and draws from torch's process-wide generator: run alone, as the trainer's own tests do.
[Collection(TrainingRuns.Name)]
public sealed class DemoCommandTests(TinyToyBaseFixture tinyBase) : IClassFixture<TinyToyBaseFixture>, IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("demo-cli").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void Quick_EndToEnd_WritesMetricsAndReport()
    {
        var output = Path.Combine(dir, "out");
        var (code, text) = CliRunner.Run("demo", "--base", tinyBase.Path, "--output", output, "--quick", "--steps", "3", "--seed", "1");
        Assert.True(code == 0, text);
        Assert.Contains("lora-prior", text);
        Assert.Contains("subject_fidelity", text);
        Assert.Contains("Classifier accuracy", text);
        Assert.True(File.Exists(Path.Combine(output, "metrics.json")));
        Assert.Contains("<table>", File.ReadAllText(Path.Combine(output, "report.html")));
    }

    [Fact]
    public void MissingBase_IsAnInputError()
    {
        var (code, text) = CliRunner.Run("demo", "--base", Path.Combine(dir, "none"), "--output", Path.Combine(dir, "out"));
        Assert.Equal(1, code);
        Assert.Contains("toyworld pretrain", text);
    }
}
