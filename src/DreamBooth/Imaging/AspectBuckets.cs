// Aspect-ratio bucketing as kohya's sd-scripts does it (--enable_bucket): a fixed set of (width, height) buckets of
// about resolution² pixels, sides multiples of a step between a minimum and a maximum; each image goes to the bucket
// whose aspect ratio is nearest its own, is scaled to cover it and cropped to it, so a tall or wide photo keeps its
// subject instead of losing the ends to a square crop.
namespace DreamBooth.Imaging;

/// <param name="Resolution">The side of the square bucket; every bucket has at most Resolution² pixels.</param>
/// <param name="MinSide">The shortest side a bucket may have (kohya's --min_bucket_reso).</param>
/// <param name="MaxSide">The longest side a bucket may have (--max_bucket_reso).</param>
/// <param name="Step">Bucket sides are multiples of it (--bucket_reso_steps).</param>
public sealed record AspectBucketOptions(int Resolution, int MinSide = 256, int MaxSide = 1024, int Step = 64);

/// <summary>Where an image of a given size trains: its bucket and the size it is resized to before the crop.</summary>
public sealed record BucketChoice(int Width, int Height, int ResizedWidth, int ResizedHeight);

/// <summary>The buckets of one training run and the rule that assigns an image to one of them.</summary>
public sealed class AspectBuckets
{
    public AspectBucketOptions Options { get; }

    /// <summary>The buckets as (width, height), sorted as kohya sorts them.</summary>
    public IReadOnlyList<(int Width, int Height)> Resolutions { get; }

    public AspectBuckets(AspectBucketOptions options)
    {
        var (r, min, max, step) = (options.Resolution, options.MinSide, options.MaxSide, options.Step);
        if (step < 1 || r < step || min < step || min > max || r > max || min > r)
            throw new DreamBoothException($"Bucket sides must satisfy step ≤ min ≤ resolution ≤ max (step {step}, min {min}, resolution {r}, max {max}).");
        Options = options;
        Resolutions = Make(r, min, max, step);
    }

    // make_bucket_resolutions: the square of the largest step multiple within the area, then for every width from min
    // to max in steps the tallest step-multiple height that keeps the area (capped at max), in both orientations.
    private static List<(int Width, int Height)> Make(int resolution, int min, int max, int step)
    {
        long area = (long)resolution * resolution;
        var set = new HashSet<(int Width, int Height)>();
        int square = (int)Math.Floor(Math.Sqrt(area) / step) * step;
        set.Add((square, square));
        for (int width = min; width <= max; width += step)
        {
            int height = (int)Math.Min(max, area / width / step * step);
            if (height < min) continue;
            set.Add((width, height));
            set.Add((height, width));
        }
        return [.. set.Order()];
    }

    /// <summary>
    /// kohya's BucketManager.select_bucket with upscaling allowed: an image exactly a bucket's size stays; any other
    /// goes to the first bucket with the nearest aspect ratio and is scaled (up or down) so it covers the bucket.
    /// </summary>
    public BucketChoice Select(int width, int height)
    {
        if (width < 1 || height < 1) throw new DreamBoothException($"An image of {width}×{height} pixels has no aspect ratio.");
        double aspect = (double)width / height;
        var (w, h) = Resolutions.Contains((width, height))
            ? (width, height)
            : Resolutions.MinBy(b => Math.Abs((double)b.Width / b.Height - aspect));
        return Cover(width, height, w, h);
    }

    /// <summary>
    /// The bucket and the size an image of <paramref name="width"/>×<paramref name="height"/> is scaled to so it covers
    /// it: the side that is relatively shorter than the bucket's decides the scale, the other overhangs and is cropped.
    /// Also how a class image takes the bucket of the instance image it trains beside.
    /// </summary>
    public static BucketChoice Cover(int width, int height, int bucketWidth, int bucketHeight)
    {
        double scale = Math.Max((double)bucketWidth / width, (double)bucketHeight / height);
        return new BucketChoice(bucketWidth, bucketHeight, Math.Max(bucketWidth, (int)(width * scale + 0.5)), Math.Max(bucketHeight, (int)(height * scale + 0.5)));
    }
}
