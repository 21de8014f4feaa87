namespace DreamBooth.ToyWorld;

using DreamBooth.Imaging;

/// <summary>
/// DreamBooth's questions answered from the toy world's known factors instead of learned embeddings: is the subject
/// there (classifier), is the prompt's context there (border colour), did the class forget what it was (leak, drift),
/// and do outputs still vary. Pixel distances are mean squared differences of values scaled to [0, 1].
/// </summary>
public static class ToyMetrics
{
    /// <summary>Share of identifier-prompt images the classifier labels as the subject (higher is better).</summary>
    public static double SubjectFidelity(ToyClassifier classifier, IReadOnlyList<RgbImage> identifierImages) =>
        Share(classifier, identifierImages, ToyLabel.Subject);

    /// <summary>Share of images whose border colour is the background their prompt asked for (higher is better).</summary>
    public static double PromptFidelity(IReadOnlyList<(RgbImage Image, ToyColor Background)> images)
    {
        if (images.Count == 0) throw new DreamBoothException("Prompt fidelity needs at least one image.");
        return images.Count(i => BorderColor(i.Image) == i.Background) / (double)images.Count;
    }

    /// <summary>Share of images of a class prompt labelled as the subject: the subject leaking into that class (lower is better).</summary>
    public static double ClassSubjectLeak(ToyClassifier classifier, IReadOnlyList<RgbImage> classImages) =>
        Share(classifier, classImages, ToyLabel.Subject);

    /// <summary>
    /// Mean pixel distance between a model's class-prompt images and the base model's at the same seeds, pair by pair:
    /// how far fine-tuning moved the class prior (lower is better).
    /// </summary>
    public static double ClassPriorDrift(IReadOnlyList<RgbImage> classImages, IReadOnlyList<RgbImage> baseClassImages)
    {
        if (classImages.Count == 0 || classImages.Count != baseClassImages.Count)
            throw new DreamBoothException($"Class prior drift compares images pair by pair: got {classImages.Count} and {baseClassImages.Count}.");
        return classImages.Zip(baseClassImages).Average(p => Distance(p.First, p.Second));
    }

    /// <summary>Mean pixel distance over all pairs of images of the same prompt, averaged over prompts (higher: more varied).</summary>
    public static double Diversity(IReadOnlyList<IReadOnlyList<RgbImage>> imagesByPrompt)
    {
        var perPrompt = imagesByPrompt.Where(g => g.Count >= 2).Select(g =>
        {
            double sum = 0;
            int pairs = 0;
            for (int i = 0; i < g.Count; i++)
                for (int j = i + 1; j < g.Count; j++, pairs++)
                    sum += Distance(g[i], g[j]);
            return sum / pairs;
        }).ToList();
        if (perPrompt.Count == 0) throw new DreamBoothException("Diversity needs at least two images of one prompt.");
        return perPrompt.Average();
    }

    /// <summary>
    /// The palette colour nearest to the per-channel median of the image's outermost pixel ring. Objects never touch the
    /// border in the toy world, so the ring is background; the median ignores a few stray pixels of a generated image.
    /// </summary>
    public static ToyColor BorderColor(RgbImage image)
    {
        var ring = new List<(byte R, byte G, byte B)>();
        for (int x = 0; x < image.Width; x++)
        {
            ring.Add(image.GetPixel(x, 0));
            ring.Add(image.GetPixel(x, image.Height - 1));
        }
        for (int y = 1; y < image.Height - 1; y++)
        {
            ring.Add(image.GetPixel(0, y));
            ring.Add(image.GetPixel(image.Width - 1, y));
        }
        static byte Median(IEnumerable<byte> values)
        {
            var sorted = values.Order().ToList();
            return sorted[sorted.Count / 2];
        }
        byte r = Median(ring.Select(p => p.R)), g = Median(ring.Select(p => p.G)), b = Median(ring.Select(p => p.B));
        return AllColors.MinBy(c => c.DistanceTo(r, g, b))!;
    }

    /// <summary>
    /// The object colour (of <see cref="ToyPalette.ObjectColors"/>) that most pixels away from the background are
    /// nearest to; null when no pixel stands out from the border colour. Pixels within 60 RGB units of the border
    /// colour count as background, which also skips most antialiased edge pixels.
    /// </summary>
    public static ToyColor? ObjectColor(RgbImage image)
    {
        var background = BorderColor(image);
        var votes = new Dictionary<ToyColor, int>();
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
            {
                var (r, g, b) = image.GetPixel(x, y);
                if (background.DistanceTo(r, g, b) < 60) continue;
                var nearest = ToyPalette.ObjectColors.MinBy(c => c.DistanceTo(r, g, b))!;
                votes[nearest] = votes.GetValueOrDefault(nearest) + 1;
            }
        return votes.Count == 0 ? null : votes.MaxBy(v => v.Value).Key;
    }

    /// <summary>Mean squared difference of two same-sized images, values scaled to [0, 1].</summary>
    public static double Distance(RgbImage a, RgbImage b)
    {
        if (a.Width != b.Width || a.Height != b.Height)
            throw new DreamBoothException($"Pixel distance needs images of one size, got {a.Width}×{a.Height} and {b.Width}×{b.Height}.");
        double sum = 0;
        for (int i = 0; i < a.Pixels.Length; i++)
        {
            double d = (a.Pixels[i] - b.Pixels[i]) / 255.0;
            sum += d * d;
        }
        return sum / a.Pixels.Length;
    }

    private static readonly IReadOnlyList<ToyColor> AllColors = [.. ToyPalette.WorldColors, ToyPalette.Magenta, ToyPalette.Black];

    private static double Share(ToyClassifier classifier, IReadOnlyList<RgbImage> images, ToyLabel label)
    {
        if (images.Count == 0) throw new DreamBoothException("A share of images needs at least one image.");
        return classifier.Classify(images).Count(l => l == label) / (double)images.Count;
    }
}
