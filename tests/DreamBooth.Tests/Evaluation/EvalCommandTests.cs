namespace DreamBooth.Tests.Evaluation;

using System.Text.Json.Nodes;
using DreamBooth.Tests.Cli;

/// <summary><c>dreambooth evaluate</c> end to end on sd15-tiny with the tiny CLIP and DINO (2 prompts × 2 seeds × 2 steps, CPU).</summary>
public sealed class EvalCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("evaluate-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private (int Code, string Output) Run(string output, params string[] extra)
    {
        var prompts = Path.Combine(dir, "prompts.txt");
        File.WriteAllLines(prompts, ["# two templates", "a {0} {1} in the snow", "a red {0} {1}"]);
        return CliRunner.Run([
            "evaluate", "-m", Fixtures.Path("sd15-tiny"), "--subject-dir", Fixtures.Path("eval", "photos", "dog"), "--class-noun", "dog",
            "--prompts", prompts, "--seeds", "0,1", "--steps", "2", "--clip", EvalFixtures.ClipDir, "--dino", EvalFixtures.DinoDir,
            "-o", output, .. extra]);
    }

    [Fact]
    public void Evaluate_TinyModels_WritesFiveMetricsReportAndGrids_ThenReusesImages()
    {
        var output = Path.Combine(dir, "out");
        var (code, text) = Run(output);
        Assert.True(code == 0, text);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")))!;
        var metrics = json["metrics"]!.AsObject();
        Assert.Equal(["DINO", "CLIP-I", "CLIP-T", "PRES", "DIV"], metrics.Select(m => m.Key));
        foreach (var (name, value) in metrics)
        {
            var v = value!.GetValue<double>();
            Assert.True(v is >= -1 and <= 2 && double.IsFinite(v), $"{name} = {v}");
        }
        var settings = json["settings"]!;
        Assert.Equal("[0,1]", settings["seeds"]!.ToJsonString());
        Assert.Equal(2, settings["steps"]!.GetValue<int>());
        Assert.Equal(EvalFixtures.ClipDir, settings["clip_model"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(settings["scheduler"]!.GetValue<string>()));
        Assert.Equal("a sks dog in the snow", json["prompts"]![0]!["prompt"]!.GetValue<string>());
        Assert.Equal("a dog in the snow", json["prompts"]![0]!["class_prompt"]!.GetValue<string>());
        Assert.Equal(8, json["images"]!["rendered"]!.GetValue<int>());   // 2 prompts × 2 seeds × (subject, class)
        Assert.True(File.Exists(Path.Combine(output, "grids", "prompt-00.png")));
        Assert.True(File.Exists(Path.Combine(output, "grids", "prompt-01.png")));
        var html = File.ReadAllText(Path.Combine(output, "report.html"));
        Assert.Contains("grids/prompt-01.png", html);
        Assert.Contains("CLIP-T", html);

        // Same settings: every image is reused and the metrics are identical.
        var (again, text2) = Run(output);
        Assert.True(again == 0, text2);
        var json2 = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")))!;
        Assert.Equal(0, json2["images"]!["rendered"]!.GetValue<int>());
        Assert.Equal(8, json2["images"]!["reused"]!.GetValue<int>());
        Assert.Equal(metrics.ToJsonString(), json2["metrics"]!.ToJsonString());

        // A changed setting renders anew.
        var (third, text3) = Run(output, "--guidance-scale", "3");
        Assert.True(third == 0, text3);
        Assert.Equal(8, JsonNode.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")))!["images"]!["rendered"]!.GetValue<int>());
    }

    [Fact]
    public void Evaluate_MissingClassNoun_IsAUsageError()
    {
        var (code, text) = CliRunner.Run("evaluate", "--subject-dir", dir, "-o", dir);
        Assert.NotEqual(0, code);
        Assert.Contains("--class-noun", text);
    }
}
