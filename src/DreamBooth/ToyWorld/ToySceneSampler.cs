namespace DreamBooth.ToyWorld;

/// <summary>
/// Draws random ordinary scenes (one plain object, object colour ≠ background colour) from a seeded stream:
/// the same seed gives the same scenes in the same order. The sizes and positions keep the object inside the image.
/// </summary>
public sealed class ToySceneSampler
{
    /// <summary>Smallest and largest object extent, as fractions of the image side.</summary>
    public const double MinSize = 0.4, MaxSize = 0.65;

    private const double Margin = 0.03;
    private readonly Random random;

    public ToySceneSampler(int seed) => random = new Random(seed);   // seeded System.Random: a fixed algorithm across .NET versions

    /// <summary>The next scene of the stream.</summary>
    public ToyScene Next()
    {
        var shapes = Enum.GetValues<ToyShape>();
        var shape = shapes[random.Next(shapes.Length)];
        var obj = ToyPalette.ObjectColors[random.Next(ToyPalette.ObjectColors.Count)];
        var backgrounds = ToyPalette.BackgroundColors.Where(b => b != obj).ToList();
        var background = backgrounds[random.Next(backgrounds.Count)];
        var (size, x, y) = Placement(random);
        return new ToyScene(shape, obj, background, size, x, y);
    }

    /// <summary>
    /// The next scene of a wider, caption-free stream for the autoencoder: any shape in arbitrary RGB colours, half of
    /// them checkered in a second arbitrary colour. A real SD VAE is trained on all kinds of images, so it can encode
    /// things the diffusion model never saw; trained on the world's few colours alone, the toy VAE could not (it turned
    /// the magenta/black subject into an orange blob, MSE 0.2–0.3 against 0.03 for ordinary scenes).
    /// </summary>
    public ToyScene NextGeneric()
    {
        var shapes = Enum.GetValues<ToyShape>();
        var shape = shapes[random.Next(shapes.Length)];
        var obj = RandomColor();
        var background = RandomColor();
        var checker = random.Next(2) == 0 ? RandomColor() : null;
        var (size, x, y) = Placement(random);
        return new ToyScene(shape, obj, background, size, x, y, checker);
    }

    private ToyColor RandomColor() => new("rgb", (byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256));

    /// <summary>The next <paramref name="count"/> scenes rendered at <paramref name="imageSize"/>.</summary>
    public IReadOnlyList<ToySample> Samples(int count, int imageSize = 32) =>
        [.. Enumerable.Range(0, count).Select(_ => ToyRenderer.Sample(Next(), imageSize))];

    /// <summary>A random size and a centre that keeps an object of that size inside the image.</summary>
    internal static (double Size, double X, double Y) Placement(Random random)
    {
        double size = MinSize + random.NextDouble() * (MaxSize - MinSize);
        double lo = size / 2 + Margin, span = 1 - 2 * lo;
        return (size, lo + random.NextDouble() * span, lo + random.NextDouble() * span);
    }
}
