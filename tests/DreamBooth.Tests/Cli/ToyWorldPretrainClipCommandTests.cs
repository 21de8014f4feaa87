namespace DreamBooth.Tests.Cli;

using System.Text.Json.Nodes;
using DreamBooth.Imaging;
using DreamBooth.Models.Clip;
using DreamBooth.Tests.Evaluation;
using DreamBooth.Tests.ToyWorld;
using DreamBooth.ToyWorld;

/// <summary><c>dreambooth toyworld pretrain-clip</c>, and <c>dreambooth evaluate --clip</c> with its folder on a toy base model.</summary>
public sealed class ToyWorldPretrainClipCommandTests(TinyToyBaseFixture toyBase) : IClassFixture<TinyToyBaseFixture>, IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("toyworld-clip-cli").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private string TrainTinyClip()
    {
        var clip = Path.Combine(dir, "clip");
        var (code, text) = CliRunner.Run("toyworld", "pretrain-clip", "--output", clip, "--steps", "2", "--batch-size", "4", "--seed", "3", "--tiny");
        Assert.True(code == 0, text);
        Assert.Contains("Zero-shot on held-out renders: shape", text);
        Assert.Contains("subject to subject", text);
        return clip;
    }

    [Fact]
    public void PretrainClip_FewTinySteps_WritesALoadableCLIPModel()
    {
        var clip = TrainTinyClip();
        using var model = CLIPModel.FromPretrained(clip);
        Assert.Equal(32, model.Config.Vision.ImageSize);
        Assert.Equal(49408, CLIPTokenizer.FromFolder(clip).VocabSize);
    }

    [Fact]
    public void PretrainClip_BatchOfOne_IsAnInputError()
    {
        var (code, text) = CliRunner.Run("toyworld", "pretrain-clip", "--output", Path.Combine(dir, "x"), "--batch-size", "1");
        Assert.Equal(1, code);
        Assert.Contains("at least 2 pairs", text);
    }

    [Fact]
    public void Evaluate_WithTheToyClip_ScoresAToyModelOnTheSubjectsRenders()
    {
        var clip = TrainTinyClip();
        var subjectDir = Directory.CreateDirectory(Path.Combine(dir, "subject")).FullName;
        var subject = new ToySubject();
        foreach (var (sample, i) in subject.InstanceImages(3).Select((s, i) => (s, i)))
            PngWriter.Write(Path.Combine(subjectDir, $"{i:00}.png"), sample.Image);
        var prompts = Path.Combine(dir, "prompts.txt");
        File.WriteAllLines(prompts, ["a photo of a {0} {1} on a white background"]);
        var output = Path.Combine(dir, "eval");
        var (code, text) = CliRunner.Run("evaluate", "-m", toyBase.Path, "--subject-dir", subjectDir, "--class-noun", subject.ClassNoun,
            "--prompts", prompts, "--seeds", "0", "--steps", "2", "--clip", clip, "--dino", EvalFixtures.DinoDir, "-o", output);
        Assert.True(code == 0, text);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")))!;
        Assert.Equal("a photo of a box on a white background", json["prompts"]![0]!["class_prompt"]!.GetValue<string>());
        foreach (var (name, value) in json["metrics"]!.AsObject().Where(m => m.Value is not null))
        {
            var v = value!.GetValue<double>();
            Assert.True(v is >= -1 and <= 1 && double.IsFinite(v), $"{name} = {v}");
        }

        // --dino none (the toy world has no DINO): no DINO score, PRES on CLIP image features, CLIP scores unchanged.
        var clipOnly = Path.Combine(dir, "eval-clip-only");
        (code, text) = CliRunner.Run("evaluate", "-m", toyBase.Path, "--subject-dir", subjectDir, "--class-noun", subject.ClassNoun,
            "--prompts", prompts, "--seeds", "0", "--steps", "2", "--clip", clip, "--dino", "none", "-o", clipOnly);
        Assert.True(code == 0, text);
        var metrics = json["metrics"]!;
        var clipMetrics = JsonNode.Parse(File.ReadAllText(Path.Combine(clipOnly, "metrics.json")))!["metrics"]!;
        Assert.Null(clipMetrics["DINO"]);
        Assert.Equal(metrics["CLIP-I"]!.GetValue<double>(), clipMetrics["CLIP-I"]!.GetValue<double>());
        Assert.Equal(metrics["CLIP-T"]!.GetValue<double>(), clipMetrics["CLIP-T"]!.GetValue<double>());
        Assert.NotEqual(metrics["PRES"]!.GetValue<double>(), clipMetrics["PRES"]!.GetValue<double>());
    }
}
