namespace DreamBooth.Tests.ToyWorld;

using DreamBooth.Imaging;
using DreamBooth.ToyWorld;

/// <summary>The toy world's renderer and scene stream: determinism and captions that match the pixels.</summary>
public sealed class ToyRendererTests
{
    [Fact]
    public void SameSeed_SameImagesBitForBit_OtherSeed_Different()
    {
        var a = new ToySceneSampler(7).Samples(20);
        var b = new ToySceneSampler(7).Samples(20);
        var c = new ToySceneSampler(8).Samples(20);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].Caption, b[i].Caption);
            Assert.Equal(a[i].Scene, b[i].Scene);
            Assert.Equal(a[i].Image.Pixels, b[i].Image.Pixels);
        }
        Assert.NotEqual(a.Select(s => s.Caption), c.Select(s => s.Caption));
    }

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    public void Caption_MatchesFactors_AndPixels(int size)
    {
        foreach (var sample in new ToySceneSampler(3).Samples(60, size))
        {
            var scene = sample.Scene;
            Assert.Equal(size, sample.Image.Width);
            Assert.Equal($"a photo of a {scene.ObjectColor.Name} {scene.Noun} on a {scene.Background.Name} background", sample.Caption);
            Assert.Equal((scene.Shape, scene.ObjectColor, scene.Background), ToyScene.ParseCaption(sample.Caption));
            Assert.NotEqual(scene.ObjectColor, scene.Background);
            // The corners are background (objects stay inside the margins) and the object's centre region has its colour.
            Assert.Equal((scene.Background.R, scene.Background.G, scene.Background.B), sample.Image.GetPixel(0, 0));
            Assert.Equal((scene.Background.R, scene.Background.G, scene.Background.B), sample.Image.GetPixel(size - 1, size - 1));
            Assert.True(CountNear(sample.Image, scene.ObjectColor) >= size * size / 30, $"{sample.Caption}: too few object pixels");
        }
    }

    [Fact]
    public void Shapes_CoverDifferentAreas()
    {
        // Same colours and placement: ball ≈ π/4, box 0.81, star much less; the shapes are told apart by their pixels.
        var area = Enum.GetValues<ToyShape>().ToDictionary(s => s,
            s => CountNear(ToyRenderer.Render(new ToyScene(s, ToyPalette.Red, ToyPalette.White, 0.6, 0.5, 0.5), 64), ToyPalette.Red));
        Assert.True(area[ToyShape.Box] > area[ToyShape.Ball]);
        Assert.True(area[ToyShape.Ball] > area[ToyShape.Cup]);
        Assert.True(area[ToyShape.Cup] > area[ToyShape.Star]);
        Assert.Equal(4, area.Values.Distinct().Count());
    }

    [Fact]
    public void GenericStream_IsSeeded_AndLeavesTheWorldsPalette()
    {
        var a = new ToySceneSampler(4);
        var b = new ToySceneSampler(4);
        var scenes = Enumerable.Range(0, 200).Select(_ => a.NextGeneric()).ToList();
        Assert.Equal(scenes, Enumerable.Range(0, 200).Select(_ => b.NextGeneric()));
        // Arbitrary colours (not only the world's eleven) and about half of the objects checkered.
        Assert.True(scenes.Select(s => (s.ObjectColor.R, s.ObjectColor.G, s.ObjectColor.B)).Distinct().Count() > 150);
        Assert.InRange(scenes.Count(s => s.CheckerColor is not null), 70, 130);
        Assert.All(scenes, s => Assert.Equal(32, ToyRenderer.Render(s).Width));
    }

    [Fact]
    public void Sampler_CoversEveryFactor()
    {
        var scenes = Enumerable.Range(0, 1).SelectMany(_ => { var s = new ToySceneSampler(11); return Enumerable.Range(0, 600).Select(_ => s.Next()); }).ToList();
        Assert.Equal(Enum.GetValues<ToyShape>().Length, scenes.Select(s => s.Shape).Distinct().Count());
        Assert.Equal(ToyPalette.ObjectColors.Count, scenes.Select(s => s.ObjectColor).Distinct().Count());
        Assert.Equal(ToyPalette.BackgroundColors.Count, scenes.Select(s => s.Background).Distinct().Count());
        Assert.All(scenes, s => Assert.InRange(s.Size, ToySceneSampler.MinSize, ToySceneSampler.MaxSize));
        Assert.All(scenes, s => Assert.True(s.CenterX - s.Size / 2 > 0 && s.CenterX + s.Size / 2 < 1 && s.CenterY - s.Size / 2 > 0 && s.CenterY + s.Size / 2 < 1));
    }

    [Theory]
    [InlineData("a photo of a red cup on a blue background", ToyShape.Cup, "red", "blue")]
    [InlineData("a photo of a yellow star on a gray background", ToyShape.Star, "yellow", "gray")]
    public void ParseCaption_ReadsFactors(string caption, ToyShape shape, string obj, string background)
    {
        var parsed = ToyScene.ParseCaption(caption);
        Assert.Equal((shape, obj, background), (parsed!.Value.Shape, parsed.Value.Object.Name, parsed.Value.Background.Name));
    }

    [Theory]
    [InlineData("a photo of sks box")]
    [InlineData("a photo of a red cat on a blue background")]
    [InlineData("a photo of a teal cup on a blue background")]
    public void ParseCaption_RejectsOtherText(string caption) => Assert.Null(ToyScene.ParseCaption(caption));

    internal static int CountNear(RgbImage image, ToyColor color, double tolerance = 30)
    {
        int n = 0;
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
            {
                var (r, g, b) = image.GetPixel(x, y);
                if (color.DistanceTo(r, g, b) < tolerance) n++;
            }
        return n;
    }
}
