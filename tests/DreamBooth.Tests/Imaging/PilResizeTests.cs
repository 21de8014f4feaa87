namespace DreamBooth.Tests.Imaging;

using System.Security.Cryptography;
using DreamBooth.Imaging;

public class PilResizeTests
{
    [Fact]
    public void Bilinear_Downscale4To2_HandWorkedAntialiasedValues()
    {
        // scale 2 → support 2. Output 0: centre 1.0, inputs 0..2, triangle((x - 1 + 0.5) / 2) = 0.75, 0.75, 0.25 → 3/7, 3/7, 1/7:
        // 3/7·0 + 3/7·70 + 1/7·140 = 50. Output 1: centre 3.0, inputs 1..3, weights 1/7, 3/7, 3/7: 10 + 60 + 90 = 160.
        // (Plain two-tap bilinear would give 35 and 175.)
        var result = PilResize.Bilinear([0, 70, 140, 210], 4, 1, 1, 2, 1);
        Assert.Equal(new byte[] { 50, 160 }, result);
    }

    [Fact]
    public void Bilinear_Upscale2To4_HandWorkedValues()
    {
        // scale 0.5 → support 1. Centres 0.25, 0.75, 1.25, 1.75: the edge outputs see one input (weight 1),
        // the inner ones weights (0.75, 0.25) and (0.25, 0.75) → 0, 25, 75, 100.
        var result = PilResize.Bilinear([0, 100], 2, 1, 1, 4, 1);
        Assert.Equal(new byte[] { 0, 25, 75, 100 }, result);
    }

    [Fact]
    public void Bicubic_Upscale2To4_HandWorkedValuesClampedAtZero()
    {
        // Keys cubic, a = -0.5, support 2. Centre 0.25: inputs 0, 1 with k(0.25) = 0.8671875, k(1.25) = -0.0703125,
        // normalised 1.0882, -0.0882 → 100 · -0.0882 = -8.8, clamped to 0. Centre 0.75: k(0.25), k(0.75) = 0.2265625
        // → 100 · 0.2266 / 1.0938 = 20.7 → 21; mirrored: 79 and 108.8 → 109 (the overshoot that bilinear never has).
        var result = PilResize.Resize([0, 100], 2, 1, 1, 4, 1, PilFilter.Bicubic);
        Assert.Equal(new byte[] { 0, 21, 79, 109 }, result);
    }

    [Fact]
    public void Bilinear_SameSize_IdentityCopy()
    {
        var image = TestImages.Pattern(13, 7);
        var result = PilResize.Bilinear(image, 13, 7);
        Assert.NotSame(image.Pixels, result.Pixels);
        Assert.Equal(image.Pixels, result.Pixels);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(128)]
    [InlineData(254)]
    [InlineData(255)]
    public void Bilinear_ConstantImage_StaysConstant(byte value)
    {
        var image = RgbImage.Filled(31, 17, value, value, value);
        foreach (var (w, h) in new[] { (5, 3), (64, 40), (31, 4), (7, 17), (1, 1), (300, 2) })
        {
            var result = PilResize.Bilinear(image, w, h);
            Assert.All(result.Pixels, b => Assert.Equal(value, b));
        }
    }

    // SHA-256 of Pillow 9.4 `Image.fromarray(pattern).resize(size, Image.BILINEAR)` bytes, pattern as TestImages.Pattern(37, 23).
    [Theory]
    [InlineData(16, 10, "d4dafeeb48b823154aa71d349b206dd03f4e53289ccb36d2a15918e2d75257a6")]
    [InlineData(61, 38, "be08e3685c9d65710a844f949c5088b256326dd8656fd477a5402bf62bc2b559")]
    [InlineData(37, 11, "5b6d74ebffe3e57f180e8c9af87cbe2f03ee15975d2137bf1370d98ee34bf722")]
    [InlineData(12, 23, "4a775f052512c1471ba807fcaa4d6969eabe0e47f2d22b3560db190617f777a8")]
    [InlineData(5, 3, "8b18acc0a8f93aac01646e943e72f667e59ca34a8125dcc3ef9e5bb070c50ea1")]
    [InlineData(200, 9, "9dff64adf1ed08f59df9728de7c98650acb65f90b5e816290960fabaab7c695a")]
    [InlineData(1, 1, "ed976f6f5fc21ee4d836782f884ff856554b97cd526b8233fce37f7f13d8d507")]
    public void Bilinear_Pattern_MatchesPillowBytes(int width, int height, string sha256)
    {
        var result = PilResize.Bilinear(TestImages.Pattern(37, 23), width, height);
        Assert.Equal((width, height), (result.Width, result.Height));
        Assert.Equal(sha256, Convert.ToHexString(SHA256.HashData(result.Pixels)).ToLowerInvariant());
    }

    [Fact]
    public void Bilinear_PatternFirstPixels_MatchPillow()
    {
        // The first four pixels of Pillow's 16x10 result, for a readable failure if the hash above breaks.
        var result = PilResize.Bilinear(TestImages.Pattern(37, 23), 16, 10);
        Assert.Equal(new byte[] { 11, 96, 181, 37, 122, 199, 98, 177, 99, 159, 117, 101 }, result.Pixels[..12]);
    }
}
