namespace DreamBooth.Tests.Training;

using System.Text.Json.Nodes;
using DreamBooth.Evaluation;
using DreamBooth.IO;
using DreamBooth.Tests.Cli;
using DreamBooth.Tests.Evaluation;
using DreamBooth.Training;

/// <summary>
/// Checkpoint choice end to end on sd15-tiny with the tiny CLIP and DINO: train --eval-at-checkpoints scores the base
/// model, every checkpoint and the final weights; evaluate --checkpoints scores the same states after training.
/// One prompt × one seed × 2 denoising steps, 32-pixel training.
/// </summary>
[Collection(TrainingRuns.Name)]
public sealed class CheckpointEvaluationTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("ckpt-eval-").FullName;
    private readonly string prompts;
    private static readonly string Photos = Fixtures.Path("eval", "photos", "dog");

    public CheckpointEvaluationTests()
    {
        prompts = Path.Combine(root, "prompts.txt");
        File.WriteAllLines(prompts, ["a {0} {1} in the snow"]);
    }

    public void Dispose()
    {
        try { Directory.Delete(root, true); } catch (IOException) { }
    }

    // A high learning rate, so that the few steps change the images visibly.
    private TrainOptions Options(string output, TrainMethod method, int steps, bool eval) => new()
    {
        Method = method,
        PretrainedModelNameOrPath = Fixtures.Path("sd15-tiny"),
        InstanceDataDir = Photos,
        InstancePrompt = "a photo of sks dog",
        Resolution = 32,
        TrainBatchSize = 1,
        GradientAccumulationSteps = 1,
        LearningRate = method == TrainMethod.Lora ? 5e-2 : 1e-3,
        MaxTrainSteps = steps,
        CheckpointingSteps = 2,
        Seed = 3,
        OutputDir = Path.Combine(root, output),
        EvalAtCheckpoints = eval,
        EvalPrompts = prompts,
        EvalSeeds = 1,
        EvalInferenceSteps = 2,
        EvalClipModel = EvalFixtures.ClipDir,
        EvalDinoModel = EvalFixtures.DinoDir,
    };

    private static TrainResult Train(TrainOptions o) => new DreamBoothTrainer(o, Fixtures.Path("sd15-tiny")).Run();

    private (int Code, string Output) EvaluateCheckpoints(string run, string output) => CliRunner.Run(
        "evaluate", "--checkpoints", run, "-m", Fixtures.Path("sd15-tiny"), "--subject-dir", Photos, "--class-noun", "dog", "--prompts", prompts,
        "--seeds", "0", "--steps", "2", "--clip", EvalFixtures.ClipDir, "--dino", EvalFixtures.DinoDir, "-o", output);

    private static JsonNode Json(string path) => JsonNode.Parse(File.ReadAllText(path))!;

    private static List<(int Step, string Name, double Dino, double ClipI, double ClipT)> Points(string dir) =>
        [.. Json(Path.Combine(dir, CheckpointReport.JsonFile))["checkpoints"]!.AsArray().Select(p => (
            p!["step"]!.GetValue<int>(), p["name"]!.GetValue<string>(), p["DINO"]!.GetValue<double>(), p["CLIP-I"]!.GetValue<double>(), p["CLIP-T"]!.GetValue<double>()))];

    private static void AssertSameMetrics(string expectedDir, string actualDir)
    {
        var expected = Points(expectedDir);
        var actual = Points(actualDir);
        Assert.Equal(expected.Select(p => (p.Step, p.Name)), actual.Select(p => (p.Step, p.Name)));
        foreach (var (e, a) in expected.Zip(actual))
        {
            Assert.True(Math.Abs(e.Dino - a.Dino) < 1e-4, $"step {e.Step}: DINO {e.Dino} in training, {a.Dino} after");
            Assert.True(Math.Abs(e.ClipI - a.ClipI) < 1e-4, $"step {e.Step}: CLIP-I {e.ClipI} in training, {a.ClipI} after");
            Assert.True(Math.Abs(e.ClipT - a.ClipT) < 1e-4, $"step {e.Step}: CLIP-T {e.ClipT} in training, {a.ClipT} after");
        }
    }

    [Fact]
    public void Lora_EvalAtCheckpoints_ScoresEveryState_SurvivesResume_AndEvaluateCheckpointsAgrees()
    {
        // 4 steps (checkpoints 2 and 4), then resumed to 5: the final weights are a state of their own.
        var o = Options("lora", TrainMethod.Lora, 4, eval: true);
        Train(o);
        var result = Train(o with { MaxTrainSteps = 5, ResumeFromCheckpoint = "latest" });
        var eval = Path.Combine(o.OutputDir, DreamBoothTrainer.EvalFolder);

        var json = Json(Path.Combine(eval, CheckpointReport.JsonFile));
        Assert.Equal([(0, "base"), (2, "checkpoint-2"), (4, "checkpoint-4"), (5, "final")], Points(eval).Select(p => (p.Step, p.Name)));
        Assert.Equal(CheckpointChoice.Rule, json["rule"]!.GetValue<string>());
        var recommended = json["recommended"]!["step"]!.GetValue<int>();
        Assert.Contains(recommended, new[] { 2, 4, 5 });
        Assert.Equal(recommended, result.Recommendation!.Recommended.Step);
        Assert.True(File.Exists(json["recommended"]!["use"]!.GetValue<string>()));
        Assert.Equal(Path.Combine(o.OutputDir, "checkpoint-2", "pytorch_lora_weights.safetensors"), json["checkpoints"]![1]!["use"]!.GetValue<string>());
        Assert.Contains("checkpoints.png", File.ReadAllText(Path.Combine(eval, CheckpointReport.HtmlFile)));
        Assert.True(new FileInfo(Path.Combine(eval, CheckpointReport.PlotFile)).Length > 0);
        foreach (var step in new[] { "step-000000", "step-000002", "step-000004", "step-000005" })
            Assert.True(File.Exists(Path.Combine(eval, step, "metrics.json")), step);
        // The LoRA changes the images: the checkpoints do not score as the base model.
        var points = Points(eval);
        Assert.Contains(points.Skip(1), p => Math.Abs(p.Dino - points[0].Dino) > 1e-3);

        // Evaluating doing nothing to the run: the same weights as a run without it, straight to step 5.
        var plain = Train(Options("plain", TrainMethod.Lora, 5, eval: false));
        Assert.False(Directory.Exists(Path.Combine(plain.OutputDir, DreamBoothTrainer.EvalFolder)));
        AssertSameTensors(result.WeightsFile!, plain.WeightsFile!);

        // After training, from the files: the same states and scores (the LoRA of each state loaded, then removed).
        var after = Path.Combine(root, "after");
        var (code, text) = EvaluateCheckpoints(o.OutputDir, after);
        Assert.True(code == 0, text);
        AssertSameMetrics(eval, after);
        Assert.Equal(recommended, Json(Path.Combine(after, CheckpointReport.JsonFile))["recommended"]!["step"]!.GetValue<int>());
        Assert.Contains("Recommended:", text);
        Assert.Contains("Rule:", text);

        // Into the training's own evaluation folder, every image is reused: same keys in and after training.
        (code, text) = EvaluateCheckpoints(o.OutputDir, eval);
        Assert.True(code == 0, text);
        foreach (var step in new[] { "step-000000", "step-000002", "step-000004", "step-000005" })
            Assert.Equal(0, Json(Path.Combine(eval, step, "metrics.json"))["images"]!["rendered"]!.GetValue<int>());
    }

    [Fact]
    public void Full_EvalAtCheckpoints_AndEvaluateCheckpoints_LoadTheSameWeights()
    {
        var o = Options("full", TrainMethod.Full, 3, eval: true);
        Train(o);
        var eval = Path.Combine(o.OutputDir, DreamBoothTrainer.EvalFolder);
        Assert.Equal([(0, "base"), (2, "checkpoint-2"), (3, "final")], Points(eval).Select(p => (p.Step, p.Name)));
        Assert.Equal(o.OutputDir, Json(Path.Combine(eval, CheckpointReport.JsonFile))["checkpoints"]![2]!["use"]!.GetValue<string>());

        var after = Path.Combine(root, "after-full");
        var (code, text) = EvaluateCheckpoints(o.OutputDir, after);
        Assert.True(code == 0, text);
        AssertSameMetrics(eval, after);
    }

    [Fact]
    public void EvaluateCheckpoints_WithLora_IsAUsageError_AndAFolderWithoutARun_AnInputError()
    {
        var (code, text) = CliRunner.Run("evaluate", "--checkpoints", root, "--lora", "x.safetensors", "--subject-dir", Photos, "--class-noun", "dog", "-o", root);
        Assert.Equal(2, code);
        Assert.Contains("--lora", text);
        (code, text) = EvaluateCheckpoints(root, Path.Combine(root, "out"));
        Assert.Equal(1, code);
        Assert.Contains("no checkpoint-* folders", text);
    }

    private static void AssertSameTensors(string expected, string actual)
    {
        using var a = SafeTensorsFile.Open(expected);
        using var b = SafeTensorsFile.Open(actual);
        Assert.Equal(a.Tensors.Select(t => t.Name).Order(), b.Tensors.Select(t => t.Name).Order());
        foreach (var t in a.Tensors)
        {
            using var x = a.Read(t.Name);
            using var y = b.Read(t.Name);
            Assert.True(x.equal(y).all().item<bool>(), t.Name);   // equal is element-wise in TorchSharp
        }
    }
}
