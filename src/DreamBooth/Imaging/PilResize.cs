// Mirrors Pillow src/libImaging/Resample.c (ImagingResample with the BILINEAR and BICUBIC filters, 8 bits per channel).
namespace DreamBooth.Imaging;

/// <summary>PIL's resampling filters that <see cref="PilResize"/> implements, numbered as PIL numbers them.</summary>
public enum PilFilter
{
    /// <summary><c>Image.BILINEAR</c> (2): triangle filter, support 1.</summary>
    Bilinear = 2,

    /// <summary><c>Image.BICUBIC</c> (3): Keys cubic with a = -0.5, support 2.</summary>
    Bicubic = 3,
}

/// <summary>
/// PIL's <c>Image.resize(size, Image.BILINEAR)</c>: a separable convolution (horizontal pass, then vertical) with a
/// triangle filter whose support grows with the downscale factor (support = max(1, in/out)), so downscaling averages
/// every covered pixel instead of sampling two. Coefficients are normalised per output pixel, then turned into 22-bit
/// fixed point; each pass rounds to uint8. Reproducing those steps gives PIL's bytes exactly (Skia's resampler does not).
/// </summary>
/// <remarks>BICUBIC works the same way with Pillow's cubic kernel (support 2, widened likewise); its negative lobes can
/// overshoot, and the fixed-point sums are clamped to [0, 255] as Pillow's clip8 does.</remarks>
public static class PilResize
{
    private const int PrecisionBits = 32 - 8 - 2;

    public static RgbImage Bilinear(RgbImage image, int width, int height) => Resize(image, width, height, PilFilter.Bilinear);

    /// <summary>PIL's <c>Image.resize(size, Image.BICUBIC)</c> (what CLIP's image processor uses).</summary>
    public static RgbImage Bicubic(RgbImage image, int width, int height) => Resize(image, width, height, PilFilter.Bicubic);

    /// <summary>PIL's <c>Image.resize(size, filter)</c> of an RGB image.</summary>
    public static RgbImage Resize(RgbImage image, int width, int height, PilFilter filter)
    {
        var pixels = Resize(image.Pixels, image.Width, image.Height, 3, width, height, filter);
        return new RgbImage(width, height, pixels);
    }

    /// <summary>Resizes interleaved 8-bit samples with <paramref name="channels"/> per pixel (1 for grayscale, 3 for RGB).</summary>
    public static byte[] Bilinear(byte[] pixels, int inWidth, int inHeight, int channels, int width, int height) =>
        Resize(pixels, inWidth, inHeight, channels, width, height, PilFilter.Bilinear);

    /// <summary>Resizes interleaved 8-bit samples with <paramref name="channels"/> per pixel with PIL's <paramref name="filter"/>.</summary>
    public static byte[] Resize(byte[] pixels, int inWidth, int inHeight, int channels, int width, int height, PilFilter filter)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"Target size {width}x{height} must be positive.");
        if (pixels.Length != (long)inWidth * inHeight * channels) throw new ArgumentException("Pixel buffer does not match the size.", nameof(pixels));
        // PIL returns a copy when nothing changes; so do the passes below (each is skipped when its size is unchanged).
        var needHorizontal = width != inWidth;
        var needVertical = height != inHeight;

        var vertical = Coefficients.Compute(inHeight, height, filter);
        // Only rows some output row reads need a horizontal pass.
        var firstRow = vertical.Start[0];
        var lastRow = vertical.Start[height - 1] + vertical.Count[height - 1];

        byte[] current = pixels;
        int curWidth = inWidth, curHeight = inHeight, rowOffset = 0;
        if (needHorizontal)
        {
            var horizontal = Coefficients.Compute(inWidth, width, filter);
            current = HorizontalPass(pixels, inWidth, channels, firstRow, lastRow - firstRow, horizontal, width);
            curWidth = width;
            curHeight = lastRow - firstRow;
            rowOffset = firstRow;
        }
        if (needVertical) return VerticalPass(current, curWidth, channels, vertical, height, rowOffset);
        if (needHorizontal) return current;
        return (byte[])pixels.Clone();
    }

    private static byte[] HorizontalPass(byte[] src, int inWidth, int channels, int firstRow, int rows, Coefficients k, int outWidth)
    {
        var dst = new byte[rows * outWidth * channels];
        for (var y = 0; y < rows; y++)
        {
            var srcRow = (firstRow + y) * inWidth * channels;
            var dstRow = y * outWidth * channels;
            for (var x = 0; x < outWidth; x++)
            {
                int start = k.Start[x], count = k.Count[x], kOff = x * k.Size;
                for (var c = 0; c < channels; c++)
                {
                    var ss = 1 << (PrecisionBits - 1);
                    for (var i = 0; i < count; i++) ss += src[srcRow + (start + i) * channels + c] * k.Weights[kOff + i];
                    dst[dstRow + x * channels + c] = Clip8(ss);
                }
            }
        }
        return dst;
    }

    private static byte[] VerticalPass(byte[] src, int width, int channels, Coefficients k, int outHeight, int rowOffset)
    {
        var stride = width * channels;
        var dst = new byte[outHeight * stride];
        for (var y = 0; y < outHeight; y++)
        {
            int start = k.Start[y] - rowOffset, count = k.Count[y], kOff = y * k.Size;
            for (var x = 0; x < stride; x++)
            {
                var ss = 1 << (PrecisionBits - 1);
                for (var i = 0; i < count; i++) ss += src[(start + i) * stride + x] * k.Weights[kOff + i];
                dst[y * stride + x] = Clip8(ss);
            }
        }
        return dst;
    }

    // PIL's clip8 lookup: the fixed-point sum shifted down, clamped to a byte.
    private static byte Clip8(int ss) => (byte)Math.Clamp(ss >> PrecisionBits, 0, 255);

    private static double Triangle(double x)
    {
        if (x < 0.0) x = -x;
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    // Pillow's bicubic_filter: Keys' cubic convolution with a = -0.5.
    private static double Cubic(double x)
    {
        const double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    /// <summary>Per output pixel: the first input index, how many inputs, and their fixed-point weights (precompute_coeffs + normalize_coeffs_8bpc).</summary>
    private sealed class Coefficients
    {
        public required int Size { get; init; }
        public required int[] Start { get; init; }
        public required int[] Count { get; init; }
        public required int[] Weights { get; init; }

        public static Coefficients Compute(int inSize, int outSize, PilFilter filter)
        {
            Func<double, double> kernel = filter switch
            {
                PilFilter.Bilinear => Triangle,
                PilFilter.Bicubic => Cubic,
                _ => throw new ArgumentOutOfRangeException(nameof(filter), filter, "Unsupported PIL filter."),
            };
            var filterSupport = filter == PilFilter.Bicubic ? 2.0 : 1.0;
            var scale = (double)inSize / outSize;
            var filterScale = Math.Max(scale, 1.0);
            var support = filterSupport * filterScale; // the filter's support, widened when downscaling
            var size = (int)Math.Ceiling(support) * 2 + 1;
            var invFilterScale = 1.0 / filterScale;
            var start = new int[outSize];
            var count = new int[outSize];
            var weights = new int[outSize * size];
            var w = new double[size];
            for (var xx = 0; xx < outSize; xx++)
            {
                var center = (xx + 0.5) * scale;
                // (int) truncates toward zero like C; negatives are clamped right after.
                var xmin = Math.Max((int)(center - support + 0.5), 0);
                var xmax = Math.Min((int)(center + support + 0.5), inSize) - xmin;
                var total = 0.0;
                for (var x = 0; x < xmax; x++)
                {
                    w[x] = kernel((x + xmin - center + 0.5) * invFilterScale);
                    total += w[x];
                }
                for (var x = 0; x < xmax; x++)
                {
                    var v = total != 0.0 ? w[x] / total : w[x];
                    weights[xx * size + x] = v < 0 ? (int)(-0.5 + v * (1 << PrecisionBits)) : (int)(0.5 + v * (1 << PrecisionBits));
                }
                start[xx] = xmin;
                count[xx] = xmax;
            }
            return new Coefficients { Size = size, Start = start, Count = count, Weights = weights };
        }
    }
}
