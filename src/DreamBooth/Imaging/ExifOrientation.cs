// Mirrors PIL.ImageOps.exif_transpose: turns an image stored with an EXIF orientation tag upright.
namespace DreamBooth.Imaging;

/// <summary>
/// The eight EXIF orientation values (tag 0x0112) and how to undo them. Value n says where the stored rows and columns
/// belong when displayed; <see cref="Apply"/> returns the upright image, as PIL's <c>exif_transpose</c> does
/// (2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90; PIL rotates counter-clockwise).
/// </summary>
public static class ExifOrientation
{
    public static string Describe(int orientation) => orientation switch
    {
        1 => "normal",
        2 => "mirrored left-right",
        3 => "rotated 180°",
        4 => "mirrored top-bottom",
        5 => "transposed (mirrored and rotated 90° counter-clockwise)",
        6 => "rotated 90° clockwise to display",
        7 => "transversed (mirrored and rotated 90° clockwise)",
        8 => "rotated 90° counter-clockwise to display",
        _ => $"invalid value {orientation}",
    };

    /// <summary>True when the upright image has width and height swapped relative to the stored one.</summary>
    public static bool SwapsAxes(int orientation) => orientation is >= 5 and <= 8;

    /// <summary>The upright image; orientation 1 or an invalid value (PIL ignores those) returns <paramref name="stored"/> itself.</summary>
    public static RgbImage Apply(RgbImage stored, int orientation)
    {
        if (orientation is < 2 or > 8) return stored;
        int w = stored.Width, h = stored.Height;
        var swap = SwapsAxes(orientation);
        int outW = swap ? h : w, outH = swap ? w : h;
        var result = new RgbImage(outW, outH);
        var src = stored.Pixels;
        var dst = result.Pixels;
        for (var y = 0; y < outH; y++)
        {
            for (var x = 0; x < outW; x++)
            {
                // Output (x, y) is read from stored (sx, sy).
                var (sx, sy) = orientation switch
                {
                    2 => (w - 1 - x, y),
                    3 => (w - 1 - x, h - 1 - y),
                    4 => (x, h - 1 - y),
                    5 => (y, x),
                    6 => (y, h - 1 - x),
                    7 => (w - 1 - y, h - 1 - x),
                    _ => (w - 1 - y, x), // 8
                };
                var s = (sy * w + sx) * 3;
                var d = (y * outW + x) * 3;
                dst[d] = src[s];
                dst[d + 1] = src[s + 1];
                dst[d + 2] = src[s + 2];
            }
        }
        return result;
    }

    /// <summary>
    /// The orientation tag from a TIFF-structured EXIF block (what a PNG eXIf chunk holds, and a JPEG APP1 after "Exif\0\0");
    /// 1 when absent or malformed.
    /// </summary>
    public static int ReadFromTiff(ReadOnlySpan<byte> tiff)
    {
        if (tiff.Length < 8) return 1;
        bool little;
        if (tiff[0] == 'I' && tiff[1] == 'I') little = true;
        else if (tiff[0] == 'M' && tiff[1] == 'M') little = false;
        else return 1;
        if (U16(tiff, 2, little) != 42) return 1;
        var ifd = U32(tiff, 4, little);
        if (ifd < 8 || ifd > (uint)tiff.Length - 2) return 1;
        var count = U16(tiff, (int)ifd, little);
        for (var i = 0; i < count; i++)
        {
            var entry = (int)ifd + 2 + i * 12;
            if (entry + 12 > tiff.Length) return 1;
            if (U16(tiff, entry, little) != 0x0112) continue;
            var type = U16(tiff, entry + 2, little);
            int value = type switch
            {
                3 => U16(tiff, entry + 8, little), // SHORT, left-justified in the value field
                4 => (int)Math.Min(U32(tiff, entry + 8, little), int.MaxValue), // LONG (non-standard but seen)
                _ => 1,
            };
            return value is >= 1 and <= 8 ? value : 1;
        }
        return 1;
    }

    private static ushort U16(ReadOnlySpan<byte> b, int at, bool little) =>
        little ? (ushort)(b[at] | b[at + 1] << 8) : (ushort)(b[at] << 8 | b[at + 1]);

    private static uint U32(ReadOnlySpan<byte> b, int at, bool little) =>
        little ? (uint)(b[at] | b[at + 1] << 8 | b[at + 2] << 16 | b[at + 3] << 24) : (uint)(b[at] << 24 | b[at + 1] << 16 | b[at + 2] << 8 | b[at + 3]);
}
