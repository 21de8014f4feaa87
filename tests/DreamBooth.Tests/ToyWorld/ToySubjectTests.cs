namespace DreamBooth.Tests.ToyWorld;

using DreamBooth.ToyWorld;

/// <summary>The DreamBooth subject: its own colours, varied contexts, deterministic instance images.</summary>
public sealed class ToySubjectTests
{
    private static readonly ToySubject Subject = new();

    [Fact]
    public void Names_IdentifierAndClass()
    {
        Assert.Equal("a photo of sks box", Subject.InstancePrompt);
        Assert.Equal("a photo of a box", Subject.ClassPrompt);
        Assert.Equal("box", Subject.ClassNoun);
    }

    [Fact]
    public void Colours_AreFarFromEveryWorldColour()
    {
        foreach (var c in ToyPalette.WorldColors)
        {
            Assert.True(Subject.FirstColor.DistanceTo(c) > 120, $"{Subject.FirstColor} too close to {c}");
            Assert.True(Subject.SecondColor.DistanceTo(c) > 120, $"{Subject.SecondColor} too close to {c}");
        }
    }

    [Fact]
    public void InstanceImages_DeterministicVariedAndCaptioned()
    {
        var a = Subject.InstanceImages(5, seed: 1);
        var b = Subject.InstanceImages(5, seed: 1);
        Assert.Equal(5, a.Count);
        Assert.Equal(a.Select(s => s.Image.Pixels), b.Select(s => s.Image.Pixels));
        Assert.Equal(5, a.Select(s => s.Scene.Background).Distinct().Count());
        Assert.All(a, s => Assert.Equal($"a photo of sks box on a {s.Scene.Background.Name} background", s.Caption));
        Assert.NotEqual(a.Select(s => s.Image.Pixels), Subject.InstanceImages(5, seed: 2).Select(s => s.Image.Pixels));
        Assert.Throws<ArgumentOutOfRangeException>(() => Subject.InstanceImages(6));
    }

    [Fact]
    public void Subject_DiffersFromPlainBoxes()
    {
        // Both checker colours show in every instance image; no plain box of the world has either of them.
        foreach (var sample in Subject.InstanceImages(5, seed: 3))
        {
            Assert.True(ToyRendererTests.CountNear(sample.Image, ToyPalette.Magenta) > 20, sample.Caption);
            Assert.True(ToyRendererTests.CountNear(sample.Image, ToyPalette.Black) > 20, sample.Caption);
        }
        var boxes = new ToySceneSampler(5).Samples(200).Where(s => s.Scene.Shape == ToyShape.Box).ToList();
        Assert.NotEmpty(boxes);
        Assert.All(boxes, s => Assert.Equal(0, ToyRendererTests.CountNear(s.Image, ToyPalette.Magenta) + ToyRendererTests.CountNear(s.Image, ToyPalette.Black)));
        // Same placement and first colour: the checkered box and a plain magenta box differ in many pixels.
        var plain = ToyRenderer.Render(new ToyScene(ToyShape.Box, ToyPalette.Magenta, ToyPalette.White, 0.6, 0.5, 0.5));
        var checkered = ToyRenderer.Render(Subject.Scene(ToyPalette.White, 0.6, 0.5, 0.5));
        Assert.True(plain.Pixels.Zip(checkered.Pixels).Count(p => p.First != p.Second) > 3 * 100);
    }
}
