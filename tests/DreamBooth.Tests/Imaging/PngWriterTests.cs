namespace DreamBooth.Tests.Imaging;

using System.IO.Compression;
using System.Text;
using DreamBooth.Imaging;
using TorchSharp;
using static TorchSharp.torch;

public class PngWriterTests
{
    private static readonly KeyValuePair<string, string>[] Parameters =
        [new("parameters", "a photo of sks dog\nSteps: 30, Sampler: DDIM, CFG scale: 7.5, Seed: 42, Size: 16x12")];

    [Fact]
    public void Write_RoundTrip_PixelsTextAndCrcs()
    {
        using var dir = new TestImages.TempDir();
        var image = TestImages.Blobs(16, 12, seed: 5, noise: 30);
        var path = dir.File("out.png");
        PngWriter.Write(path, image, Parameters);

        Assert.Equal(["out.png"], Directory.GetFiles(dir.Path).Select(Path.GetFileName)); // no temp file left behind
        var decoded = ImageLoader.Load(path, out var info);
        Assert.Equal("PNG", info.Format);
        Assert.Equal(image.Pixels, decoded.Pixels);

        var bytes = File.ReadAllBytes(path);
        var chunks = PngText.ReadChunks(bytes, path);
        Assert.Equal(["IHDR", "tEXt", "IDAT", "IEND"], chunks.Select(c => c.Type));
        Assert.All(chunks, c => Assert.True(c.CrcValid, $"{c.Type} CRC"));
        Assert.Equal(new byte[] { 0xAE, 0x42, 0x60, 0x82 }, bytes[^4..]); // the well-known CRC of an empty IEND
        Assert.Equal(Parameters[0].Value, PngText.Read(path)["parameters"]);
        Assert.StartsWith("parameters\0a photo", Encoding.Latin1.GetString(chunks[1].Data));
    }

    [Fact]
    public void Encode_TextEncodings_Latin1AsTextOtherwiseItxt()
    {
        var png = PngWriter.Encode(RgbImage.Filled(2, 2, 9, 9, 9), [new("latin", "café crème"), new("utf8", "猫 🐱 ñ"), new("Comment", "")]);
        var chunks = PngText.ReadChunks(png, "x");
        Assert.Equal(["IHDR", "tEXt", "iTXt", "tEXt", "IDAT", "IEND"], chunks.Select(c => c.Type));
        Assert.Contains((byte)0xE9, chunks[1].Data); // é as one Latin-1 byte
        var text = PngText.Read(png, "x");
        Assert.Equal("café crème", text["latin"]);
        Assert.Equal("猫 🐱 ñ", text["utf8"]);
        Assert.Equal("", text["Comment"]);
    }

    [Fact]
    public void Read_CompressedChunks_ZtxtAndCompressedItxt()
    {
        static byte[] Z(byte[] data)
        {
            using var m = new MemoryStream();
            using (var z = new ZLibStream(m, CompressionLevel.Optimal, leaveOpen: true)) z.Write(data);
            return m.ToArray();
        }
        byte[] ztxt = [.. "Description\0"u8.ToArray(), 0, .. Z(Encoding.Latin1.GetBytes("déjà vu"))];
        byte[] itxt = [.. "prompt\0"u8.ToArray(), 1, 0, .. "en\0"u8.ToArray(), .. "Prompt\0"u8.ToArray(), .. Z(Encoding.UTF8.GetBytes("{\"3\": \"ü\"}"))];
        var png = TestImages.HandPng(1, 1, 8, 2, [1, 2, 3], ("zTXt", ztxt), ("iTXt", itxt));
        var text = PngText.Read(png, "x");
        Assert.Equal("déjà vu", text["Description"]);
        Assert.Equal("{\"3\": \"ü\"}", text["prompt"]);
    }

    [Fact]
    public void ReadChunks_CorruptedText_CrcReportedInvalid()
    {
        var png = PngWriter.Encode(RgbImage.Filled(2, 2, 1, 2, 3), Parameters);
        png[8 + 25 + 8 + 3] ^= 0x20; // a byte inside the tEXt body (after signature and IHDR)
        var chunks = PngText.ReadChunks(png, "x");
        Assert.False(chunks[1].CrcValid);
        Assert.True(chunks[0].CrcValid && chunks[2].CrcValid);
    }

    [Fact]
    public void ReadChunks_NotPngOrTruncated_Throws()
    {
        Assert.Contains("not a PNG", Assert.Throws<DreamBoothException>(() => PngText.ReadChunks("GIF89a..."u8.ToArray(), "f.png")).Message);
        var png = PngWriter.Encode(RgbImage.Filled(2, 2, 1, 2, 3));
        Assert.Contains("truncated", Assert.Throws<DreamBoothException>(() => PngText.ReadChunks(png[..40], "f.png")).Message);
    }

    [Fact]
    public void Encode_InvalidKeyword_Throws()
    {
        var image = RgbImage.Filled(1, 1, 0, 0, 0);
        Assert.Throws<ArgumentException>(() => PngWriter.Encode(image, [new("", "x")]));
        Assert.Throws<ArgumentException>(() => PngWriter.Encode(image, [new(" lead", "x")]));
        Assert.Throws<ArgumentException>(() => PngWriter.Encode(image, [new(new string('k', 80), "x")]));
        Assert.Throws<ArgumentException>(() => PngWriter.Encode(image, [new("ok", "nul\0inside")]));
    }

    /// <summary>The float32 nearest to (k + 0.5) / 255 whose float32 product with 255 is exactly k + 0.5.</summary>
    private static float HalfwayInput(int k)
    {
        var v = (k + 0.5f) / 255f;
        for (var step = 0; step < 64; step++)
        {
            if (v * 255f == k + 0.5f) return v;
            v = v * 255f < k + 0.5f ? MathF.BitIncrement(v) : MathF.BitDecrement(v);
        }
        throw new InvalidOperationException($"no exact halfway input for {k}");
    }

    [Fact]
    public void FromTensor_ExactHalves_RoundHalfToEven()
    {
        int[] ks = [0, 1, 2, 3, 100, 101, 253, 254];
        var values = ks.Select(HalfwayInput).ToArray();
        var rgb = values.Concat(values).Concat(values).ToArray(); // same values in all three planes
        using var t = torch.tensor(rgb, [3, 1, ks.Length]);
        var image = RgbImage.FromTensor(t);
        for (var i = 0; i < ks.Length; i++)
        {
            var expected = ks[i] % 2 == 0 ? ks[i] : ks[i] + 1; // k + 0.5 → the even neighbour
            Assert.Equal((byte)expected, image[i, 0, 0]);
        }
    }

    [Fact]
    public void FromTensor_RandomValues_MatchTorchRound()
    {
        using var g = new Generator(7);
        using var t = torch.rand(new long[] { 3, 17, 23 }, generator: g);
        var image = RgbImage.FromTensor(t);
        // torch.round, like numpy.round, rounds half to even; (t * 255) is the same float32 product numpy computes.
        using var expected = t.mul(255).round().to(ScalarType.Byte).permute(1, 2, 0).contiguous();
        Assert.Equal(expected.data<byte>().ToArray(), image.Pixels);
    }

    [Fact]
    public void FromTensor_OutOfRangeAndNaN_ClampedAndZero()
    {
        using var t = torch.tensor(new[] { -0.2f, 1.3f, float.NaN }, [3, 1, 1]);
        Assert.Equal(new byte[] { 0, 255, 0 }, RgbImage.FromTensor(t).Pixels);
        using var batched = torch.zeros(1, 3, 2, 2);
        Assert.Equal((2, 2), (RgbImage.FromTensor(batched).Width, RgbImage.FromTensor(batched).Height));
        using var bad = torch.zeros(4, 2, 2);
        Assert.Contains("[3, H, W]", Assert.Throws<DreamBoothException>(() => RgbImage.FromTensor(bad)).Message);
    }

    [Fact]
    public void Write_Tensor_QuantisesAndSaves()
    {
        using var dir = new TestImages.TempDir();
        using var t = torch.tensor(new[] { 0f, 0.5f, 1f, 0.25f, 0.75f, 0.1f }, [3, 1, 2]);
        PngWriter.Write(dir.File("t.png"), t);
        var image = ImageLoader.Load(dir.File("t.png"));
        // Planes R = (0, 0.5), G = (1, 0.25), B = (0.75, 0.1). 0.5·255 = 127.5 → 128 (even); 0.75·255 = 191.25 → 191;
        // 0.25·255 = 63.75 → 64; 0.1f·255f is exactly 25.5 in float32 → 26 (even).
        Assert.Equal(new byte[] { 0, 255, 191, 128, 64, 26 }, image.Pixels);
    }

    [Fact]
    public void ImageGrid_Make_TilesRowMajor()
    {
        var images = Enumerable.Range(0, 6).Select(i => RgbImage.Filled(4, 5, (byte)(i * 40), (byte)i, 7)).ToList();
        var grid = ImageGrid.Make(images, rows: 2, cols: 3);
        Assert.Equal((12, 10), (grid.Width, grid.Height));
        for (var i = 0; i < 6; i++)
        {
            int left = i % 3 * 4, top = i / 3 * 5;
            Assert.Equal(((byte)(i * 40), (byte)i, (byte)7), grid.GetPixel(left, top));
            Assert.Equal(((byte)(i * 40), (byte)i, (byte)7), grid.GetPixel(left + 3, top + 4));
        }
    }

    [Fact]
    public void ImageGrid_Make_WrongCountOrSizes_Throws()
    {
        var a = RgbImage.Filled(4, 4, 0, 0, 0);
        Assert.Contains("needs 4 images, got 3", Assert.Throws<DreamBoothException>(() => ImageGrid.Make([a, a, a], 2, 2)).Message);
        Assert.Contains("share one size", Assert.Throws<DreamBoothException>(() => ImageGrid.Make([a, RgbImage.Filled(4, 5, 0, 0, 0)], 1, 2)).Message);
    }

    [Fact]
    public void A1111Infotext_Format_MatchesWebUiLayout()
    {
        var text = A1111Infotext.Format("a photo of sks dog", "blurry, lowres", 30, "Euler a", 7.5, 1234, 512, 768, model: "dreambooth-dog");
        Assert.Equal("a photo of sks dog\nNegative prompt: blurry, lowres\nSteps: 30, Sampler: Euler a, CFG scale: 7.5, Seed: 1234, Size: 512x768, Model: dreambooth-dog", text);

        var noNegative = A1111Infotext.Format("p", "", 20, "DDIM", 7, 1, 64, 64, extra: [new("Lora hashes", "sks: 0123abcd, style: 89ef"), new("Skipped", null)]);
        Assert.Equal("p\nSteps: 20, Sampler: DDIM, CFG scale: 7, Seed: 1, Size: 64x64, Lora hashes: \"sks: 0123abcd, style: 89ef\"", noNegative);
    }

    [Fact]
    public void A1111Infotext_Quote_JsonEscapesOnlyWhenNeeded()
    {
        Assert.Equal("plain value", A1111Infotext.Quote("plain value"));
        Assert.Equal("\"a, \\\"b\\\"\\n\"", A1111Infotext.Quote("a, \"b\"\n"));
        Assert.Equal("\"é: ü\"", A1111Infotext.Quote("é: ü")); // non-ASCII kept (ensure_ascii=False)
    }
}
