namespace DreamBooth.Tests.ToyWorld;

using System.Text.Json.Nodes;
using DreamBooth.Evaluation;
using DreamBooth.IO;
using DreamBooth.Loading;
using DreamBooth.Models.Clip;
using DreamBooth.Tests.Evaluation;
using DreamBooth.Tests.Training;
using DreamBooth.Torch;
using DreamBooth.ToyWorld;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>The toy world's CLIP at smoke-test size: a CLIPModel folder the evaluation loads, deterministic for a seed, and learning.</summary>
// Building a CLIPModel draws from torch's process-wide generator (TorchSharp initialises its Conv2d): run alone.
[Collection(nameof(ProcessWideState))]
public sealed class ToyClipTrainerTests(ITestOutputHelper output) : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("toy-clip").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private static ToyClipOptions Smoke(string output, int seed = 0) => new()
    {
        OutputDir = output, Steps = 3, BatchSize = 8, WarmupSteps = 1, Seed = seed, Model = ToyClipConfig.Tiny,
    };

    [Fact]
    public void FewSteps_WritesACLIPModelFolderTheEvaluationLoadsAndEmbedsWith()
    {
        var result = new ToyClipTrainer(Smoke(dir)).Run();
        Assert.True(double.IsFinite(result.Loss));
        Assert.Equal(3, File.ReadAllLines(Path.Combine(dir, ToyClipTrainer.LogFile)).Length);

        // The layout of a transformers CLIPModel folder.
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!;
        Assert.Equal("clip", config["model_type"]!.GetValue<string>());
        Assert.Equal(32, config["vision_config"]!["image_size"]!.GetValue<int>());
        Assert.Equal(49408, config["text_config"]!["vocab_size"]!.GetValue<int>());
        var processor = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "preprocessor_config.json")))!;
        Assert.Equal(32, processor["size"]!["shortest_edge"]!.GetValue<int>());
        Assert.Equal(32, processor["crop_size"]!["height"]!.GetValue<int>());
        foreach (var file in new[] { "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json" })
            Assert.True(File.Exists(Path.Combine(dir, file)), file);
        var weights = SafeTensorsFile.ReadHeader(Path.Combine(dir, "model.safetensors"));
        var keys = weights.Select(t => t.Name).ToList();
        Assert.Contains("vision_model.embeddings.patch_embedding.weight", keys);
        Assert.Contains("text_model.embeddings.token_embedding.weight", keys);
        Assert.Contains("visual_projection.weight", keys);
        Assert.Contains("logit_scale", keys);
        Assert.All(weights, t => Assert.Equal(ScalarType.Float16, t.ScalarType));

        // The evaluation's own loader (the path of openai/clip-vit-base-patch32) reads it as float32 and embeds 32×32 renders.
        using var models = EvaluationModels.Load(dir, EvalFixtures.DinoDir);
        Assert.Equal(ScalarType.Float32, models.Clip.parameters().First().dtype);
        Assert.InRange(Math.Log(models.Clip.LogitScale), ToyClipConfig.LogitScaleInit - 0.01, ToyClipConfig.LogitScaleInit + 0.01);
        var renders = new ToySceneSampler(1).Samples(3);
        var images = models.ClipImageEmbeddings([.. renders.Select(s => s.Image)]);
        var texts = models.ClipTextEmbeddings([.. renders.Select(s => s.Caption)]);
        Assert.Equal(3, images.Count);
        Assert.Equal(3, texts.Count);
        Assert.All(images.Concat(texts), e => Assert.Equal(ToyClipConfig.Tiny.ProjectionDim, e.Length));
        Assert.All(images.Concat(texts), e => Assert.All(e, v => Assert.True(float.IsFinite(v))));
        Assert.NotEqual(images[0], images[1]);
        Assert.NotEqual(texts[0], texts[1]);

        // The trainer's scores are those of the saved folder as the evaluation embeds it.
        var probed = ToyClipProbe.Measure(models.ClipImageEmbeddings, models.ClipTextEmbeddings, ToyClipTrainer.ProbeSeedOffset);
        Assert.Equal(result.Scores, probed);
        foreach (var accuracy in new[] { probed.ShapeAccuracy, probed.ColourAccuracy, probed.BackgroundAccuracy, probed.NounAccuracy, probed.SubjectAccuracy })
            Assert.InRange(accuracy, 0, 1);
    }

    [Fact]
    public void SameSeed_SameWeights_OtherSeedDiffers()
    {
        byte[] Weights(string sub, int seed)
        {
            new ToyClipTrainer(Smoke(Path.Combine(dir, sub), seed)).Run();
            return File.ReadAllBytes(Path.Combine(dir, sub, "model.safetensors"));
        }
        var a = Weights("a", 5);
        Assert.Equal(a, Weights("b", 5));
        Assert.NotEqual(a, Weights("c", 6));
    }

    [Fact]
    public void ShortTraining_LearnsTheBackground()
    {
        // The background fills most of the image: the first factor the pair learns. Chance is 1 in 5.
        var result = new ToyClipTrainer(Smoke(dir) with { Steps = 50, BatchSize = 32, WarmupSteps = 5, LearningRate = 3e-3 }).Run();
        var s = result.Scores;
        output.WriteLine($"loss {result.Loss:0.000}, {result.Elapsed.TotalSeconds:0.0} s; shape {s.ShapeAccuracy:0.00}, colour {s.ColourAccuracy:0.00}, " +
                         $"background {s.BackgroundAccuracy:0.00}, noun {s.NounAccuracy:0.00}, subject {s.SubjectAccuracy:0.00}, " +
                         $"subject–subject {s.SubjectToSubject:0.000}, box–subject {s.BoxToSubject:0.000}");
        Assert.True(s.BackgroundAccuracy > 0.6, $"background accuracy {s.BackgroundAccuracy}");
    }

    [Fact]
    public void ShippedModel_KnowsTheToyWorld_ThroughTheEvaluationLoader()
    {
        // models/toyworld-clip as `dreambooth toyworld pretrain-clip` made it (docs/TOYWORLD-CLIP.md), probed as the trainer probed it.
        var folder = Path.Combine(Fixtures.RepoRoot, "models", "toyworld-clip");
        using var models = EvaluationModels.Load(folder, EvalFixtures.DinoDir);
        var s = ToyClipProbe.Measure(models.ClipImageEmbeddings, models.ClipTextEmbeddings, ToyClipTrainer.ProbeSeedOffset);
        output.WriteLine($"shape {s.ShapeAccuracy:0.000}, colour {s.ColourAccuracy:0.000}, background {s.BackgroundAccuracy:0.000}, noun {s.NounAccuracy:0.000}, " +
                         $"subject {s.SubjectAccuracy:0.000}, subject–subject {s.SubjectToSubject:0.000}, box–subject {s.BoxToSubject:0.000}, " +
                         $"context {s.ContextMatched:0.000} vs {s.ContextOther:0.000}");
        Assert.True(s.ShapeAccuracy >= 0.8 && s.NounAccuracy >= 0.8, $"shape {s.ShapeAccuracy}, noun {s.NounAccuracy}");
        Assert.True(s.ColourAccuracy >= 0.95 && s.BackgroundAccuracy >= 0.95, $"colour {s.ColourAccuracy}, background {s.BackgroundAccuracy}");
        Assert.True(s.SubjectAccuracy >= 0.95, $"subject {s.SubjectAccuracy}");
        // CLIP-I tells the subject from plain boxes by a wide margin.
        Assert.True(s.SubjectToSubject - s.BoxToSubject >= 0.3, $"{s.SubjectToSubject} vs {s.BoxToSubject}");
        // CLIP-T drops when an image does not show the background its prompt names.
        Assert.True(s.ContextMatched - s.ContextOther >= 0.1, $"{s.ContextMatched} vs {s.ContextOther}");
    }

    [Fact]
    public void ContrastiveLoss_IsClipsLossForDistinctCaptions_AndSpreadsOverDuplicates()
    {
        using var scope = NewDisposeScope();
        var logits = tensor(new float[] { 3, 1, 0, 0.5f, 2, 1, -1, 0, 4 }, [3, 3]);
        var labels = arange(3, ScalarType.Int64);
        var clip = (nn.functional.cross_entropy(logits, labels) + nn.functional.cross_entropy(logits.t(), labels)) / 2;
        Assert.Equal(clip.item<float>(), ToyClipTrainer.ContrastiveLoss(logits, eye(3)).item<float>(), 5);

        // Captions 0 and 1 are both true of images 0 and 1: each image's target is half on each.
        var matches = tensor(new float[] { 1, 1, 0, 1, 1, 0, 0, 0, 1 }, [3, 3]);
        var logp = nn.functional.log_softmax(logits, 1);
        var logpT = nn.functional.log_softmax(logits.t(), 1);
        double Row(Tensor lp, int r, int[] positives) => -positives.Average(c => lp[r, c].item<float>());
        double expected = ((Row(logp, 0, [0, 1]) + Row(logp, 1, [0, 1]) + Row(logp, 2, [2])) / 3 +
                           (Row(logpT, 0, [0, 1]) + Row(logpT, 1, [0, 1]) + Row(logpT, 2, [2])) / 3) / 2;
        Assert.Equal(expected, ToyClipTrainer.ContrastiveLoss(logits, matches).item<float>(), 5);
    }

    [Fact]
    public void Matches_ShortCaptionsAreTrueOfEveryImageTheyDescribe()
    {
        var redBox = new ToyScene(ToyShape.Box, ToyPalette.Red, ToyPalette.Blue, 0.5, 0.5, 0.5);
        var subject = new ToySubject().Scene(ToyPalette.Blue, 0.5, 0.5, 0.5);
        var greenBall = new ToyScene(ToyShape.Ball, ToyPalette.Green, ToyPalette.White, 0.5, 0.5, 0.5);
        ToyClipPair[] batch =
        [
            new(redBox, true, true),          // "a photo of a red box on a blue background"
            new(subject, true, true),         // "a photo of a magenta and black checkered box on a blue background"
            new(subject, false, true),        // "a photo of a box on a blue background": true of both boxes
            new(greenBall, false, false),     // "a photo of a ball"
        ];
        Assert.Equal("a photo of a box on a blue background", batch[2].Caption);
        Assert.Equal("a photo of a ball", batch[3].Caption);
        Assert.Equal("a photo of a magenta and black checkered box", new ToyClipPair(subject, true, false).Caption);
        using var matches = ToyClipTrainer.Matches(batch);
        float[] expected =
        [
            1, 0, 1, 0,
            0, 1, 1, 0,
            0, 1, 1, 0,
            0, 0, 0, 1,
        ];
        Assert.Equal(expected, matches.data<float>().ToArray());
    }

    [Fact]
    public void FreshInit_SetsScalarParametersToZero()
    {
        var config = CLIPConfig.From(ConfigFile.Parse("config.json", ToyClipConfig.Tiny.ConfigJson().ToJsonString()));
        using var model = new CLIPModel(config);
        using var generator = Rng.CpuGenerator(0);
        FreshInit.Apply(model, generator);
        Assert.Equal(1.0, model.LogitScale);
        Assert.All(model.parameters(), p => Assert.True(isfinite(p).all().item<bool>()));
    }

    [Fact]
    public void InvalidOptions_AreRefused()
    {
        Assert.Throws<DreamBoothException>(() => new ToyClipTrainer(Smoke(dir) with { Steps = 0 }).Run());
        Assert.Throws<DreamBoothException>(() => new ToyClipTrainer(Smoke(dir) with { BatchSize = 1 }).Run());
        Assert.Throws<DreamBoothException>(() => new ToyClipTrainer(Smoke(dir) with { SubjectShare = 1.5 }).Run());
        Assert.Throws<DreamBoothException>(() => new ToyClipTrainer(Smoke(dir) with { Model = ToyClipConfig.Tiny with { PatchSize = 5 } }).Run());
    }
}
