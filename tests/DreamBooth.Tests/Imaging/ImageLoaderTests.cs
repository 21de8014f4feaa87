namespace DreamBooth.Tests.Imaging;

using System.Security.Cryptography;
using DreamBooth.Imaging;
using SkiaSharp;
using Xunit.Abstractions;

public class ImageLoaderTests(ITestOutputHelper output)
{
    private static readonly (byte, byte, byte) Red = (255, 0, 0), Green = (0, 255, 0), Blue = (0, 0, 255), White = (255, 255, 255);

    private static (byte, byte, byte) C(int r, int g, int b) => ((byte)r, (byte)g, (byte)b);

    private static RgbImage Decode(byte[] bytes, out ImageSourceInfo info) => ImageLoader.Decode(bytes, "test-image", out info);

    private static void AssertNear((byte R, byte G, byte B) expected, (byte R, byte G, byte B) actual, int tolerance, string where)
    {
        var ok = Math.Abs(expected.R - actual.R) <= tolerance && Math.Abs(expected.G - actual.G) <= tolerance && Math.Abs(expected.B - actual.B) <= tolerance;
        Assert.True(ok, $"{where}: expected {expected}, got {actual}");
    }

    // Where each stored corner (TL, TR, BL, BR) must appear once upright, from the EXIF definition of tag 0x0112:
    // the value says which visual side holds the stored 0th row and which the stored 0th column.
    public static TheoryData<int, string> OrientationCorners => new()
    {
        { 1, "TL TR BL BR" }, // row0 top, col0 left
        { 2, "TR TL BR BL" }, // row0 top, col0 right
        { 3, "BR BL TR TL" }, // row0 bottom, col0 right
        { 4, "BL BR TL TR" }, // row0 bottom, col0 left
        { 5, "TL BL TR BR" }, // row0 left, col0 top
        { 6, "TR BR TL BL" }, // row0 right, col0 top
        { 7, "BR TR BL TL" }, // row0 right, col0 bottom
        { 8, "BL TL BR TR" }, // row0 left, col0 bottom
    };

    private static void AssertCorners(RgbImage upright, string corners, int tolerance)
    {
        // Stored quadrants: TL red, TR green, BL blue, BR white (48 wide, 32 high).
        var colours = new[] { Red, Green, Blue, White };
        var names = corners.Split(' ');
        for (var i = 0; i < 4; i++)
        {
            var (x, y) = names[i] switch
            {
                "TL" => (upright.Width / 4, upright.Height / 4),
                "TR" => (upright.Width * 3 / 4, upright.Height / 4),
                "BL" => (upright.Width / 4, upright.Height * 3 / 4),
                _ => (upright.Width * 3 / 4, upright.Height * 3 / 4),
            };
            AssertNear(colours[i], upright.GetPixel(x, y), tolerance, $"stored quadrant {i} at upright {names[i]}");
        }
    }

    [Theory]
    [MemberData(nameof(OrientationCorners))]
    public void Load_JpegWithExifOrientation_IsUpright(int orientation, string corners)
    {
        var jpeg = TestImages.WithExifOrientation(TestImages.Jpeg(TestImages.Quadrants(48, 32), 100), orientation);
        var image = Decode(jpeg, out var info);
        Assert.Equal(orientation, info.Orientation);
        Assert.Equal((48, 32), (info.StoredWidth, info.StoredHeight));
        Assert.Equal(orientation >= 5 ? (32, 48) : (48, 32), (image.Width, image.Height));
        Assert.Equal((image.Width, image.Height), (info.Width, info.Height));
        AssertCorners(image, corners, tolerance: 8);
    }

    [Theory]
    [MemberData(nameof(OrientationCorners))]
    public void Load_PngWithExifChunk_IsUpright(int orientation, string corners)
    {
        var stored = TestImages.Quadrants(48, 32);
        var samples = stored.Pixels.Select(b => (int)b).ToArray();
        var png = TestImages.HandPng(48, 32, 8, 2, samples, ("eXIf", TestImages.ExifTiff(orientation)));
        var image = Decode(png, out var info);
        Assert.Equal(orientation, info.Orientation);
        AssertCorners(image, corners, tolerance: 0);
    }

    [Fact]
    public void ExifOrientation_ReadFromTiff_LittleEndianAndMalformed()
    {
        byte[] little = [(byte)'I', (byte)'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0];
        Assert.Equal(6, ExifOrientation.ReadFromTiff(little));
        Assert.Equal(1, ExifOrientation.ReadFromTiff(little[..12])); // entry cut short
        Assert.Equal(1, ExifOrientation.ReadFromTiff(TestImages.ExifTiff(9))); // out of range → ignored like PIL
        Assert.Equal(1, ExifOrientation.ReadFromTiff("garbage!"u8));
    }

    [Fact]
    public void Load_LosslessFormats_ExactPixels()
    {
        var pattern = TestImages.Pattern(37, 23);
        foreach (var (name, bytes, format) in new[]
        {
            ("png", TestImages.Encode(pattern, SKEncodedImageFormat.Png), "PNG"),
            ("webp", TestImages.Encode(pattern, SKEncodedImageFormat.Webp, 100), "WebP"),
            ("bmp", TestImages.Bmp(pattern), "BMP"),
            ("our png", PngWriter.Encode(pattern), "PNG"),
        })
        {
            var image = Decode(bytes, out var info);
            Assert.Equal(format, info.Format);
            Assert.True(pattern.Pixels.AsSpan().SequenceEqual(image.Pixels), $"{name} pixels differ");
            Assert.False(info.Grayscale || info.Cmyk || info.HasTransparency, name);
        }
    }

    [Fact]
    public void Load_Gif_UsesFirstFrame()
    {
        (byte, byte, byte)[] palette = [(255, 0, 0), (0, 0, 255), (0, 128, 0), (9, 9, 9)];
        byte[] first = [0, 0, 1, 1, 2, 2, 3, 3, 0, 1, 2, 3]; // 4x3
        byte[] second = Enumerable.Repeat((byte)1, 12).ToArray();
        var image = Decode(TestImages.Gif(4, 3, palette, first, second), out var info);
        Assert.Equal("GIF", info.Format);
        Assert.Equal(2, info.FrameCount);
        for (var i = 0; i < 12; i++) Assert.Equal(palette[first[i]], image.GetPixel(i % 4, i / 4));
    }

    [Fact]
    public void Load_RgbaPng_DropsAlphaKeepingStoredColour()
    {
        // (10,20,30) fully transparent must come back as (10,20,30): PIL's convert("RGB") drops alpha, it does not composite.
        int[] samples = [10, 20, 30, 0, 200, 100, 50, 128, 1, 2, 3, 255, 250, 251, 252, 255];
        var image = Decode(TestImages.HandPng(2, 2, 8, 6, samples), out var info);
        Assert.Equal(C(10, 20, 30), image.GetPixel(0, 0));
        Assert.Equal(C(200, 100, 50), image.GetPixel(1, 0));
        Assert.Equal(C(1, 2, 3), image.GetPixel(0, 1));
        Assert.True(info.HasAlphaChannel);
        Assert.True(info.HasTransparency);
    }

    [Fact]
    public void Load_GrayscaleInputs_ReplicatedToRgb()
    {
        int[] gray = [0, 17, 128, 255, 3, 99];
        var image = Decode(TestImages.HandPng(3, 2, 8, 0, gray), out var info);
        Assert.True(info.Grayscale);
        for (var i = 0; i < 6; i++) Assert.Equal(((byte)gray[i], (byte)gray[i], (byte)gray[i]), image.GetPixel(i % 3, i / 3));

        int[] grayAlpha = [40, 0, 80, 255]; // gray+alpha, 2x1
        var la = Decode(TestImages.HandPng(2, 1, 8, 4, grayAlpha), out var laInfo);
        Assert.Equal(C(40, 40, 40), la.GetPixel(0, 0));
        Assert.True(laInfo.Grayscale && laInfo.HasTransparency);

        var flat = Enumerable.Repeat((byte)77, 16 * 16).ToArray();
        var jpeg = Decode(TestImages.GrayJpeg(flat, 16, 16), out var jpegInfo);
        Assert.True(jpegInfo.Grayscale);
        Assert.Equal(C(77, 77, 77), jpeg.GetPixel(5, 5));
    }

    [Fact]
    public void Load_SixteenBitPng_KeepsHighByte()
    {
        var rng = new Random(1);
        var rgb16 = Enumerable.Range(0, 5 * 4 * 3).Select(_ => rng.Next(65536)).ToArray();
        var image = Decode(TestImages.HandPng(5, 4, 16, 2, rgb16), out var info);
        Assert.Equal(16, info.BitDepth);
        Assert.Equal(rgb16.Select(v => (byte)(v >> 8)).ToArray(), image.Pixels); // PIL's "RGB;16B" takes the high byte

        var gray16 = Enumerable.Range(0, 6).Select(_ => rng.Next(65536)).ToArray();
        var g = Decode(TestImages.HandPng(3, 2, 16, 0, gray16), out var gInfo);
        Assert.True(gInfo.Grayscale && gInfo.BitDepth == 16);
        for (var i = 0; i < 6; i++) Assert.Equal((byte)(gray16[i] >> 8), g[i % 3, i / 3, 1]);
    }

    [Fact]
    public void Load_CmykJpeg_ConvertedLikePil()
    {
        var image = Decode(TestImages.CmykJpeg, out var info);
        Assert.True(info.Cmyk);
        Assert.Equal((16, 16), (image.Width, image.Height));
        Assert.Equal(C(255, 0, 0), image.GetPixel(3, 3));
        Assert.Equal(C(0, 255, 0), image.GetPixel(12, 3));
        Assert.Equal(C(0, 0, 255), image.GetPixel(3, 12));
        Assert.Equal(C(127, 127, 127), image.GetPixel(12, 12));
    }

    public static TheoryData<string, byte[], string> BrokenFiles()
    {
        var jpeg = TestImages.Jpeg(TestImages.Blobs(64, 64, 3, noise: 40), 90);
        var garbage = new byte[300];
        new Random(7).NextBytes(garbage);
        garbage[0] = 0x42; // not accidentally a magic number
        return new()
        {
            { "zero bytes", [], "empty file" },
            { "truncated jpeg", jpeg[..(jpeg.Length * 6 / 10)], "truncated JPEG" },
            { "jpeg header only", jpeg[..20], "corrupt JPEG" },
            { "garbage", garbage, "not an image" },
            { "text", "hello, I am not a picture\n"u8.ToArray(), "not an image" },
            { "jpeg magic then garbage", [0xFF, 0xD8, 0xFF, .. garbage], "JPEG" },
            { "png signature only", [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A], "PNG" },
            { "heif", [0, 0, 0, 24, .. "ftypheic"u8.ToArray(), 0, 0, 0, 0, .. "mif1heic"u8.ToArray()], "HEIF content is not supported" },
            { "tiff", [(byte)'I', (byte)'I', 42, 0, 8, 0, 0, 0], "TIFF content is not supported" },
        };
    }

    [Theory]
    [MemberData(nameof(BrokenFiles))]
    public void Load_BrokenFile_ThrowsOneLineNamingFile(string kind, byte[] bytes, string expected)
    {
        using var dir = new TestImages.TempDir();
        var path = dir.Write("broken.jpg", bytes);
        var e = Assert.Throws<DreamBoothException>(() => ImageLoader.Load(path));
        output.WriteLine($"{kind}: {e.Message}");
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void ListImages_SortsSupportedAndSkipsTheRest()
    {
        using var dir = new TestImages.TempDir();
        foreach (var name in new[] { "b.PNG", "a.jpg", "C.webp", "notes.txt", ".DS_Store" }) dir.Write(name, [1]);
        Directory.CreateDirectory(dir.File("sub.jpg"));
        var images = ImageLoader.ListImages(dir.Path, out var skipped);
        Assert.Equal(["C.webp", "a.jpg", "b.PNG"], images.Select(Path.GetFileName));
        Assert.Equal([".DS_Store", "notes.txt", "sub.jpg"], skipped.Select(Path.GetFileName));
    }

    [Fact]
    public void Load_MissingFile_ThrowsNamingFile()
    {
        var path = Path.Combine(Path.GetTempPath(), "no-such-dir-" + Guid.NewGuid().ToString("N"), "x.png");
        var e = Assert.Throws<DreamBoothException>(() => ImageLoader.Load(path));
        Assert.StartsWith(path + ": cannot read file", e.Message);
    }

    [Fact]
    public void SupportedExtensions_CaseInsensitive()
    {
        Assert.True(ImageLoader.IsSupported("a/B.JPG"));
        Assert.True(ImageLoader.IsSupported("x.webp"));
        Assert.False(ImageLoader.IsSupported("x.heic"));
        Assert.False(ImageLoader.IsSupported("x.txt"));
        Assert.False(ImageLoader.IsSupported("jpg"));
    }

    [Fact]
    public void Load_RealPhoto_MatchesPillowDecodeAndResize()
    {
        var dog = Fixtures.Shared("data", "dreambooth", "dog");
        if (dog is null)
        {
            output.WriteLine("skipped: ../shared/data/dreambooth/dog not present");
            return;
        }
        var image = ImageLoader.Load(Path.Combine(dog, "00.jpg"), out var info);
        Assert.Equal(("JPEG", 780, 780, 1), (info.Format, image.Width, image.Height, info.Orientation));
        // SHA-256 of Pillow 9.4's Image.open(...).convert("RGB") bytes and of its resize((512, 512), BILINEAR).
        Assert.Equal("1d65f9609a27cb9fd99345e46f6f2734ab8ead3fcbc7653a512bf9adec19a69f", Sha(image.Pixels));
        var resized = TrainTransforms.ResizeShorterSide(image, 512);
        Assert.Equal("04673f0ccac0bcbddbecba142952e79fe600ddb43df48fecd2e9d24d6b3081e6", Sha(resized.Pixels));
    }

    private static string Sha(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
}
