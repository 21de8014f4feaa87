namespace DreamBooth.Tests.ToyWorld;

using DreamBooth.Imaging;
using DreamBooth.Tests.Training;
using DreamBooth.ToyWorld;

/// <summary>
/// The metrics on ground-truth renders: images of the subject stand for a model that learned it, plain boxes at the
/// same places for one that did not. No diffusion model is needed to see that the metrics tell them apart.
/// </summary>
// The classifier's layers are built with torch's process-wide generator; once, a parallel run failed in it: run alone.
[Collection(nameof(ProcessWideState))]
public sealed class ToyMetricsTests
{
    private static readonly ToySubject Subject = new();

    // Same backgrounds and placements for both sets, so only "subject or not" differs.
    private static (List<RgbImage> Subject, List<RgbImage> Plain, List<ToyColor> Backgrounds) Pairs(int count, int seed)
    {
        var random = new Random(seed);
        var subject = new List<RgbImage>();
        var plain = new List<RgbImage>();
        var backgrounds = new List<ToyColor>();
        for (int i = 0; i < count; i++)
        {
            var background = ToyPalette.BackgroundColors[i % ToyPalette.BackgroundColors.Count];
            var (size, x, y) = (0.4 + 0.25 * random.NextDouble(), 0.35 + 0.3 * random.NextDouble(), 0.35 + 0.3 * random.NextDouble());
            var color = ToyPalette.ObjectColors.First(c => c != background);
            subject.Add(ToyRenderer.Render(Subject.Scene(background, size, x, y)));
            plain.Add(ToyRenderer.Render(new ToyScene(ToyShape.Box, color, background, size, x, y)));
            backgrounds.Add(background);
        }
        return (subject, plain, backgrounds);
    }

    [Fact]
    public void SubjectRenders_VersusPlainBoxes_AreSeparated()
    {
        var classifier = ToyClassifierTests.Shared.Value;
        var (subject, plain, _) = Pairs(20, 3);
        Assert.True(ToyMetrics.SubjectFidelity(classifier, subject) >= 0.9);
        Assert.True(ToyMetrics.SubjectFidelity(classifier, plain) <= 0.1);
        // As class-prompt images: plain boxes are a healthy class, subject images a class taken over by the subject.
        Assert.True(ToyMetrics.ClassSubjectLeak(classifier, plain) <= 0.1);
        Assert.True(ToyMetrics.ClassSubjectLeak(classifier, subject) >= 0.9);
        Assert.Equal(0, ToyMetrics.ClassPriorDrift(plain, plain));
        Assert.True(ToyMetrics.ClassPriorDrift(subject, plain) > 0.01);
    }

    [Fact]
    public void PromptFidelity_ReadsTheBorder()
    {
        var (subject, plain, backgrounds) = Pairs(10, 5);
        Assert.Equal(1.0, ToyMetrics.PromptFidelity([.. subject.Zip(backgrounds)]));
        Assert.Equal(1.0, ToyMetrics.PromptFidelity([.. plain.Zip(backgrounds)]));
        // Every image asked for the wrong background.
        var wrong = plain.Zip(backgrounds, (image, b) => (image, ToyPalette.BackgroundColors.First(c => c != b))).ToList();
        Assert.Equal(0.0, ToyMetrics.PromptFidelity(wrong));
    }

    [Fact]
    public void ObjectColor_ReadsEveryCleanRenderOfTheWorld()
    {
        var scenes = ToyBaseEvaluation.AllScenes();
        Assert.Equal(108, scenes.Count);                      // 4 shapes × (6 colours × 5 backgrounds − 3 same-colour pairs)
        Assert.Equal(scenes.Count, scenes.Select(s => s.Caption).Distinct().Count());
        var random = new Random(11);
        foreach (var scene in scenes)
        {
            var (size, x, y) = ToySceneSampler.Placement(random);
            var placed = scene with { Size = size, CenterX = x, CenterY = y };
            Assert.Equal(scene.ObjectColor, ToyMetrics.ObjectColor(ToyRenderer.Render(placed)));
        }
        Assert.Null(ToyMetrics.ObjectColor(RgbImage.Filled(32, 32, 128, 128, 128)));
    }

    [Fact]
    public void BorderColor_ToleratesAFewStrayPixels()
    {
        var image = RgbImage.Filled(32, 32, 40, 80, 220);
        for (int x = 0; x < 10; x++) image.SetPixel(x, 0, 255, 0, 255);
        Assert.Equal(ToyPalette.Blue, ToyMetrics.BorderColor(image));
        Assert.Equal(ToyPalette.Gray, ToyMetrics.BorderColor(RgbImage.Filled(32, 32, 120, 135, 125)));
    }

    [Fact]
    public void Diversity_IsZeroForCopies_AndGrowsWithVariety()
    {
        var (subject, _, _) = Pairs(6, 7);
        var copies = Enumerable.Repeat(subject[0], 4).ToList();
        Assert.Equal(0, ToyMetrics.Diversity([copies]));
        Assert.True(ToyMetrics.Diversity([subject]) > 0.01);
        Assert.Throws<DreamBoothException>(() => ToyMetrics.Diversity([[subject[0]]]));
    }
}
