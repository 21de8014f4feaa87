namespace DreamBooth.Tests.Evaluation;

using DreamBooth.Evaluation;
using DreamBooth.IO;
using DreamBooth.Torch;
using static TorchSharp.torch;

public sealed class EvalMetricsTests
{
    [Fact]
    public void Cosine_HandWorked()
    {
        Assert.Equal(1.0, DreamBoothMetrics.Cosine([1, 0], [3, 0]), 12);
        Assert.Equal(0.0, DreamBoothMetrics.Cosine([1, 0], [0, 2]), 12);
        Assert.Equal(0.6, DreamBoothMetrics.Cosine([3, 4], [1, 0]), 12);           // 3 / 5
        Assert.Equal(-1.0, DreamBoothMetrics.Cosine([1, 1], [-2, -2]), 12);
    }

    [Fact]
    public void MeanCrossCosine_AveragesEveryPair()
    {
        // generated {e1, (3,4)} × real {e1, e2}: cosines 1, 0, 0.6, 0.8 → 0.6
        Assert.Equal(0.6, DreamBoothMetrics.MeanCrossCosine([[1, 0], [3, 4]], [[1, 0], [0, 1]]), 12);
    }

    [Fact]
    public void MeanPairedCosine_PairsImageWithItsOwnText()
    {
        // (e1, e1) → 1, (e2, (3,4)) → 0.8; cross pairs would give other values
        Assert.Equal(0.9, DreamBoothMetrics.MeanPairedCosine([[1, 0], [0, 1]], [[2, 0], [3, 4]]), 12);
        Assert.Throws<ArgumentException>(() => DreamBoothMetrics.MeanPairedCosine([[1, 0]], [[1, 0], [0, 1]]));
    }

    [Fact]
    public void Diversity_OneMinusMeanPairwiseCosineWithinGroups()
    {
        // group A: e1, e2, (1,1)/√2 → cosines 0, √½, √½; group B: e1, e1 → 1. Pooled mean = (0 + 2√½ + 1) / 4.
        var expected = 1 - (0 + 2 * Math.Sqrt(0.5) + 1) / 4;
        Assert.Equal(expected, DreamBoothMetrics.Diversity([[[1, 0], [0, 1], [1, 1]], [[1, 0], [5, 0]]])!.Value, 6);
        Assert.Null(DreamBoothMetrics.Diversity([[[1, 0]], [[0, 1]]]));   // no group with two images
    }

    [Fact]
    public void Metrics_OnFixtureEmbeddings_EqualReferenceCosines()
    {
        // DINO of "generated" {dog} vs "real" {backpack, poop_emoji} = mean of the reference table's entries.
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Path.Combine(EvalFixtures.DinoDir, "reference.safetensors"));
        var cls = reference.Read("dino.cls");
        float[] Row(int i) => cls[i].data<float>().ToArray();
        var cos = reference.Read("dino.cos");
        var expected = (cos[0, 1].item<float>() + cos[0, 2].item<float>()) / 2;
        Assert.Equal(expected, DreamBoothMetrics.MeanCrossCosine([Row(0)], [Row(1), Row(2)]), 5);
        Assert.Equal(1 - cos[1, 3].item<float>(), DreamBoothMetrics.Diversity([[Row(1), Row(3)]])!.Value, 5);
    }

    [Fact]
    public void Prompts_DefaultSets_TutorialPlusDatasetTemplates()
    {
        Assert.Equal(29, EvaluationPrompts.Default(SubjectKind.Object).Count);
        Assert.Equal(29, EvaluationPrompts.Default(SubjectKind.Live).Count);
        Assert.Contains("a {0} {1} wearing a santa hat", EvaluationPrompts.Live);
        Assert.DoesNotContain("a {0} {1} wearing a santa hat", EvaluationPrompts.Object);
        Assert.Equal("a sks dog in the snow", EvaluationPrompts.Format("a {0} {1} in the snow", "sks", "dog"));
        Assert.Equal("a dog in the snow", EvaluationPrompts.ClassPrompt("a {0} {1} in the snow", "sks", "dog"));
        Assert.Equal("a red dog", EvaluationPrompts.ClassPrompt("a red sks dog", "sks", "dog"));
    }
}
