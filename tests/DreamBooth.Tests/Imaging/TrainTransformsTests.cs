namespace DreamBooth.Tests.Imaging;

using DreamBooth.Imaging;
using TorchSharp;
using static TorchSharp.torch;

public class TrainTransformsTests
{
    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && torch.equal(a, b).all().item<bool>();

    [Theory]
    [InlineData(1000, 600, 512, 853, 512)] // int(512 * 1000 / 600) = int(853.33)
    [InlineData(600, 1000, 512, 512, 853)]
    [InlineData(780, 780, 512, 512, 512)]
    [InlineData(300, 200, 512, 768, 512)] // upscale
    [InlineData(1023, 512, 512, 1023, 512)] // already the size: untouched
    public void ResizeShorterSide_TorchvisionSizeRule(int w, int h, int size, int expectW, int expectH)
    {
        var image = RgbImage.Filled(w, h, 1, 2, 3);
        var result = TrainTransforms.ResizeShorterSide(image, size);
        Assert.Equal((expectW, expectH), (result.Width, result.Height));
        if (expectW == w && expectH == h) Assert.Same(image, result);
    }

    [Theory]
    [InlineData(853, 512, 512, 0, 170)] // 170.5 → 170 (Python rounds half to even)
    [InlineData(855, 512, 512, 0, 172)] // 171.5 → 172
    [InlineData(512, 853, 512, 170, 0)]
    [InlineData(513, 512, 512, 0, 0)] // 0.5 → 0
    [InlineData(515, 512, 512, 0, 2)] // 1.5 → 2
    [InlineData(512, 512, 512, 0, 0)]
    public void CenterCropOffsets_TorchvisionRounding(int w, int h, int size, int top, int left)
    {
        Assert.Equal((top, left), TrainTransforms.CenterCropOffsets(h, w, size));
    }

    [Fact]
    public void Apply_CenterCrop_ShapeRangeAndExactNormalisation()
    {
        var image = TestImages.Pattern(40, 24);
        var sample = new TrainTransforms(new TrainTransformOptions(16, CenterCrop: true)).Apply(image);
        using var pixels = sample.Pixels;
        Assert.Equal(new long[] { 3, 16, 16 }, pixels.shape);
        Assert.Equal(ScalarType.Float32, pixels.dtype);
        Assert.True(pixels.min().item<float>() >= -1f && pixels.max().item<float>() <= 1f);
        Assert.Equal((24, 40), sample.OriginalSize);

        // Expected: PIL resize to 26x16 (int(16 * 40 / 24) = 26), crop left round(5.0) = 5, then torch's ToTensor + Normalize ops.
        var resized = PilResize.Bilinear(image, 26, 16);
        Assert.Equal((0, 5), sample.CropTopLeft);
        var crop = resized.Crop(5, 0, 16, 16);
        using var bytes = torch.tensor(crop.Pixels, ScalarType.Byte).reshape(16, 16, 3).permute(2, 0, 1);
        using var expected = bytes.to(ScalarType.Float32).div(255).sub(0.5).div(0.5);
        Assert.True(Same(expected, pixels), "ToTensor/Normalize values differ from torch's float32 ops");
    }

    [Fact]
    public void Apply_ExtremeBytes_MapToMinusOneAndOne()
    {
        var image = new RgbImage(2, 1, [0, 0, 0, 255, 255, 255]);
        using var t = new TrainTransforms(new TrainTransformOptions(1, CenterCrop: true)).Apply(RgbImage.Filled(1, 1, 0, 255, 0)).Pixels;
        Assert.Equal(new[] { -1f, 1f, -1f }, t.data<float>().ToArray());
        using var full = image.ToTensor(normalize: true);
        Assert.Equal(new[] { -1f, 1f, -1f, 1f, -1f, 1f }, full.data<float>().ToArray());
    }

    [Fact]
    public void Apply_FlipAlways_MirrorsBeforeCrop()
    {
        var image = TestImages.Pattern(41, 24); // resized to 27x16: the centre crop offset 5.5 → 6 is asymmetric
        var transforms = new TrainTransforms(new TrainTransformOptions(16, CenterCrop: true, Flip: FlipMode.Always));
        var sample = transforms.Apply(image);
        Assert.True(sample.Flipped);
        var expected = PilResize.Bilinear(image, 27, 16).FlipHorizontal().Crop(6, 0, 16, 16).ToTensor(normalize: true);
        Assert.True(Same(expected, sample.Pixels));

        // With a symmetric offset the flip commutes with the crop: flipped output = mirrored unflipped output.
        var even = TestImages.Pattern(40, 24);
        var plain = new TrainTransforms(new TrainTransformOptions(16, CenterCrop: true)).Apply(even).Pixels;
        var flipped = transforms.Apply(even).Pixels;
        Assert.True(Same(plain.flip(2), flipped));
    }

    [Fact]
    public void Apply_RandomCrop_DrawsLikeTorchvisionFromGenerator()
    {
        var image = TestImages.Pattern(40, 24); // resized to 26x16 for resolution 16: top in [0,0], left in [0,10]
        var transforms = new TrainTransforms(new TrainTransformOptions(16));
        var seen = new HashSet<int>();
        for (var seed = 0; seed < 20; seed++)
        {
            var sample = transforms.Apply(image, new Generator((ulong)seed));
            using var g = new Generator((ulong)seed);
            var top = torch.randint(0L, 1L, new long[] { 1 }, generator: g).item<long>();
            var left = torch.randint(0L, 11L, new long[] { 1 }, generator: g).item<long>();
            Assert.Equal(((int)top, (int)left), sample.CropTopLeft);
            var expected = PilResize.Bilinear(image, 26, 16).Crop((int)left, 0, 16, 16).ToTensor(normalize: true);
            Assert.True(Same(expected, sample.Pixels));
            seen.Add((int)left);
            Assert.Equal(sample.CropTopLeft, transforms.Apply(image, new Generator((ulong)seed)).CropTopLeft);
        }
        Assert.True(seen.Count > 3, "random crops should vary with the seed");
    }

    [Fact]
    public void Apply_RandomFlip_AboutHalfAndDrawnFirst()
    {
        var transforms = new TrainTransforms(new TrainTransformOptions(4, CenterCrop: true, Flip: FlipMode.Random));
        var image = TestImages.Pattern(6, 4);
        using var g = new Generator(1234);
        using var reference = new Generator(1234);
        var flips = 0;
        for (var i = 0; i < 200; i++)
        {
            var sample = transforms.Apply(image, g);
            Assert.Equal(torch.rand(new long[] { 1 }, generator: reference).item<float>() < 0.5f, sample.Flipped);
            flips += sample.Flipped ? 1 : 0;
        }
        Assert.InRange(flips, 70, 130);
    }

    [Fact]
    public void Constructor_NonPositiveResolution_Throws()
    {
        Assert.Throws<DreamBoothException>(() => new TrainTransforms(new TrainTransformOptions(0)));
    }
}
