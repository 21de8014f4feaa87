// A 64-bit DCT perceptual hash in the manner of the Python imagehash package's phash().
namespace DreamBooth.Data;

using System.Numerics;
using DreamBooth.Imaging;

/// <summary>
/// pHash: grayscale (PIL's "L" weights), resize to 32×32 (PIL bilinear), 2-D DCT-II, keep the 8×8 lowest frequencies
/// (DC included), and set bit i when coefficient i is above their median. Re-encoding, rescaling and mild colour or
/// compression changes flip few bits; different photos differ in about half. Compare with <see cref="Distance"/>.
/// </summary>
public static class PerceptualHash
{
    private const int Size = 32;
    private const int Low = 8;

    public static ulong Compute(RgbImage image)
    {
        var gray = ToGray(image);
        var small = PilResize.Bilinear(gray, image.Width, image.Height, 1, Size, Size);

        // Separable DCT-II, only the first 8 frequencies along each axis are needed.
        var cos = new double[Low, Size];
        for (var k = 0; k < Low; k++)
            for (var n = 0; n < Size; n++)
                cos[k, n] = Math.Cos(Math.PI * k * (2 * n + 1) / (2.0 * Size));
        var rows = new double[Low, Size]; // frequency along y, pixel column x
        for (var k = 0; k < Low; k++)
            for (var x = 0; x < Size; x++)
            {
                double s = 0;
                for (var y = 0; y < Size; y++) s += small[y * Size + x] * cos[k, y];
                rows[k, x] = s;
            }
        var coefficients = new double[Low * Low];
        for (var ky = 0; ky < Low; ky++)
            for (var kx = 0; kx < Low; kx++)
            {
                double s = 0;
                for (var x = 0; x < Size; x++) s += rows[ky, x] * cos[kx, x];
                coefficients[ky * Low + kx] = s;
            }

        var sorted = (double[])coefficients.Clone();
        Array.Sort(sorted);
        var median = (sorted[31] + sorted[32]) / 2; // numpy.median of 64 values
        ulong hash = 0;
        for (var i = 0; i < coefficients.Length; i++)
            if (coefficients[i] > median) hash |= 1UL << i;
        return hash;
    }

    /// <summary>Number of differing bits (0 = same picture, about 32 = unrelated).</summary>
    public static int Distance(ulong a, ulong b) => BitOperations.PopCount(a ^ b);

    /// <summary>PIL's RGB → L conversion: ITU-R 601-2 luma in 16-bit fixed point, rounded.</summary>
    internal static byte[] ToGray(RgbImage image)
    {
        var p = image.Pixels;
        var gray = new byte[image.Width * image.Height];
        for (var i = 0; i < gray.Length; i++)
            gray[i] = (byte)((p[i * 3] * 19595 + p[i * 3 + 1] * 38470 + p[i * 3 + 2] * 7471 + 0x8000) >> 16);
        return gray;
    }
}
