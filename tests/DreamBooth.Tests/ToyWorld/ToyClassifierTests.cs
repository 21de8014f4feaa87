namespace DreamBooth.Tests.ToyWorld;

using DreamBooth.Tests.Training;
using DreamBooth.ToyWorld;
using Xunit.Abstractions;

/// <summary>The subject/shape classifier: accurate on held-out renders, deterministic for a seed, quick to train.</summary>
// The classifier's layers are built with torch's process-wide generator; once, a parallel run failed in it: run alone.
[Collection(nameof(ProcessWideState))]
public sealed class ToyClassifierTests(ITestOutputHelper output)
{
    /// <summary>One classifier for the whole class: training it is the slow part.</summary>
    internal static readonly Lazy<ToyClassifier> Shared = new(() => ToyClassifier.Train(new ToyClassifierOptions { Seed = 1 }));

    [Fact]
    public void HeldOutCleanRenders_AtLeastNinetyPercent()
    {
        var classifier = Shared.Value;
        output.WriteLine($"held-out accuracy {classifier.Accuracy:0.000}");
        Assert.True(classifier.Accuracy >= 0.9, $"accuracy {classifier.Accuracy:0.000}");
        Assert.Equal(32, classifier.ImageSize);
    }

    [Fact]
    public void SameSeed_SameAccuracyAndLabels()
    {
        var options = new ToyClassifierOptions { Seed = 4, Steps = 20, TestImages = 100 };
        using var a = ToyClassifier.Train(options);
        using var b = ToyClassifier.Train(options);
        Assert.Equal(a.Accuracy, b.Accuracy);
        var images = new ToySceneSampler(9).Samples(30).Select(s => s.Image).ToList();
        Assert.Equal(a.Classify(images), b.Classify(images));
    }

    [Fact]
    public void WrongImageSize_IsRefused()
    {
        var image = ToyRenderer.Render(new ToySceneSampler(0).Next(), 64);
        Assert.Throws<DreamBoothException>(() => Shared.Value.Classify([image]));
    }
}
