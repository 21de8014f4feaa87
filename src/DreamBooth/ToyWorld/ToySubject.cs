namespace DreamBooth.ToyWorld;

using DreamBooth.Imaging;

/// <summary>
/// The DreamBooth subject of the toy world: one box painted as a magenta-and-black checkerboard, colours that no
/// ordinary scene uses, so the base model has never seen it. Prompts name it "<see cref="Identifier"/>
/// <see cref="ClassNoun"/>" ("sks box").
/// </summary>
public sealed record ToySubject
{
    /// <summary>The rare token that names the subject.</summary>
    public string Identifier { get; init; } = "sks";

    public ToyShape Shape { get; init; } = ToyShape.Box;

    public ToyColor FirstColor { get; init; } = ToyPalette.Magenta;

    public ToyColor SecondColor { get; init; } = ToyPalette.Black;

    /// <summary>The class noun ("box").</summary>
    public string ClassNoun => Shape.ToString().ToLowerInvariant();

    /// <summary>"a photo of sks box".</summary>
    public string InstancePrompt => $"a photo of {Identifier} {ClassNoun}";

    /// <summary>"a photo of a box" (the prior-preservation prompt).</summary>
    public string ClassPrompt => $"a photo of a {ClassNoun}";

    /// <summary>The subject on <paramref name="background"/> at the given size and centre (fractions of the image side).</summary>
    public ToyScene Scene(ToyColor background, double size, double centerX, double centerY) =>
        new(Shape, FirstColor, background, size, centerX, centerY, SecondColor);

    /// <summary>
    /// <paramref name="count"/> (1 … backgrounds) instance images, each on a different background (taken in a seeded
    /// order) with a random size and position; captions name the subject ("a photo of sks box on a gray background").
    /// </summary>
    public IReadOnlyList<ToySample> InstanceImages(int count = 5, int seed = 0, int imageSize = 32)
    {
        var backgrounds = ToyPalette.BackgroundColors;
        if (count < 1 || count > backgrounds.Count)
            throw new ArgumentOutOfRangeException(nameof(count), $"Between 1 and {backgrounds.Count} instance images (one per background), not {count}.");
        var random = new Random(seed);
        var order = backgrounds.OrderBy(_ => random.Next()).Take(count).ToList();
        return [.. order.Select(background =>
        {
            var (size, x, y) = ToySceneSampler.Placement(random);
            var scene = Scene(background, size, x, y);
            return new ToySample(ToyRenderer.Render(scene, imageSize), scene.SubjectCaption(Identifier), scene);
        })];
    }

    /// <summary>
    /// <see cref="InstanceImages"/> written into <paramref name="folder"/> as a captioned training folder: NN.png with its
    /// caption in NN.txt ("a photo of sks box on a yellow background"), so training learns the subject apart from the
    /// backgrounds it is shown on.
    /// </summary>
    public IReadOnlyList<ToySample> WriteInstanceImages(string folder, int count = 5, int seed = 0, int imageSize = 32)
    {
        Directory.CreateDirectory(folder);
        var samples = InstanceImages(count, seed, imageSize);
        for (int i = 0; i < samples.Count; i++)
        {
            PngWriter.Write(Path.Combine(folder, $"{i:00}.png"), samples[i].Image);
            File.WriteAllText(Path.Combine(folder, $"{i:00}.txt"), samples[i].Caption);
        }
        return samples;
    }
}
