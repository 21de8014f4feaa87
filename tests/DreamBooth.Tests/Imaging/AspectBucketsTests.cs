namespace DreamBooth.Tests.Imaging;

using DreamBooth.Imaging;
using DreamBooth.Tests.Training;
using DreamBooth.Training;

/// <summary>kohya's aspect-ratio buckets: the bucket set, the choice of a bucket, and batches that keep the aspect.</summary>
[Collection(nameof(ProcessWideState))]      // the loader draws from torch's global generator
public sealed class AspectBucketsTests
{
    [Fact]
    public void Resolutions_AreKohyasForSd15()
    {
        // make_bucket_resolutions((512, 512), 256, 1024, 64), as sd-scripts lists it.
        (int, int)[] expected =
        [
            (256, 832), (256, 896), (256, 960), (256, 1024), (320, 704), (320, 768), (384, 640), (448, 576), (512, 512),
            (576, 448), (640, 384), (704, 320), (768, 320), (832, 256), (896, 256), (960, 256), (1024, 256),
        ];
        Assert.Equal(expected, new AspectBuckets(new AspectBucketOptions(512)).Resolutions);
    }

    [Theory]
    [InlineData(1024, 512, 704, 320, 704, 352)]      // 2:1 → the nearest aspect (2.2), scaled by the width
    [InlineData(512, 512, 512, 512, 512, 512)]       // an exact bucket stays as it is
    [InlineData(600, 800, 448, 576, 448, 597)]       // 3:4 → 448×576 (0.78), scaled by the width
    [InlineData(300, 1200, 256, 1024, 256, 1024)]    // 1:4, upscaled onto the tallest bucket
    public void Select_NearestAspect_ScaledToCover(int w, int h, int bw, int bh, int rw, int rh) =>
        Assert.Equal(new BucketChoice(bw, bh, rw, rh), new AspectBuckets(new AspectBucketOptions(512)).Select(w, h));

    [Fact]
    public void Options_StepAboveMinimum_OrResolutionOutside_AreRefused()
    {
        Assert.Throws<DreamBoothException>(() => new AspectBuckets(new AspectBucketOptions(512, MinSide: 32, Step: 64)));
        Assert.Throws<DreamBoothException>(() => new AspectBuckets(new AspectBucketOptions(2048)));
    }

    [Fact]
    public void WidePhoto_KeepsBothEnds_WhereTheSquareCropLosesThem()
    {
        // 80×48 (5:3): a red band at the left end, a blue one at the right.
        var photo = RgbImage.Filled(80, 48, 128, 128, 128);
        for (int y = 0; y < 48; y++)
            for (int x = 0; x < 6; x++)
            {
                photo.SetPixel(x, y, 255, 0, 0);
                photo.SetPixel(79 - x, y, 0, 0, 255);
            }
        var square = new TrainTransforms(new TrainTransformOptions(32, CenterCrop: true)).Apply(photo);
        var buckets = new AspectBuckets(new AspectBucketOptions(32, MinSide: 16, MaxSide: 64, Step: 8));
        var bucketed = new TrainTransforms(new TrainTransformOptions(32, CenterCrop: true, Buckets: buckets)).Apply(photo);

        Assert.Equal([3L, 32, 32], square.Pixels.shape);
        Assert.Equal([3L, 24, 40], bucketed.Pixels.shape);       // the bucket 40×24 has the photo's 5:3
        Assert.Equal(80.0 / 48, (double)bucketed.Pixels.shape[2] / bucketed.Pixels.shape[1], 6);
        static (float R, float B) Column(TorchSharp.torch.Tensor t, int x) => (t[0, 10, x].item<float>(), t[2, 10, x].item<float>());
        Assert.Equal((1f, -1f), Column(bucketed.Pixels, 0));      // red survives at the left …
        Assert.Equal((-1f, 1f), Column(bucketed.Pixels, 39));     // … and blue at the right
        Assert.NotEqual((1f, -1f), Column(square.Pixels, 0));     // the square crop cut both away
        Assert.NotEqual((-1f, 1f), Column(square.Pixels, 31));
    }

    [Fact]
    public void Batches_HoldOneBucketEach_AndCoverEveryExampleOncePerEpoch()
    {
        // Examples 0–4 in bucket A, 5–7 in bucket B; batches of 2 → ⌈5/2⌉ + ⌈3/2⌉ = 5 batches per epoch.
        (int, int) BucketOf(int i) => i < 5 ? (48, 24) : (24, 48);
        TorchSharp.torch.manual_seed(3);
        var loader = new ShuffledBatches(8, 2, _ => new ExampleChoice(new CropChoice(false, 0, 0), null), BucketOf);
        for (int epoch = 0; epoch < 2; epoch++)
        {
            var seen = new List<int>();
            bool end = false;
            int batches = 0;
            while (!end)
            {
                (var batch, end) = loader.Next();
                Assert.Single(batch.Examples.Select(BucketOf).Distinct());
                seen.AddRange(batch.Examples);
                batches++;
            }
            Assert.Equal(5, batches);
            Assert.Equal(Enumerable.Range(0, 8), seen.Order());
        }
    }

    [Fact]
    public void OneBucket_GivesThePlainBatches()
    {
        static ExampleChoice Choose(int _) => new(new CropChoice(false, 0, 0), null);
        TorchSharp.torch.manual_seed(5);
        var plain = new ShuffledBatches(7, 3, Choose);
        var plainBatches = Enumerable.Range(0, 6).Select(_ => plain.Next().Batch.Examples).ToList();
        TorchSharp.torch.manual_seed(5);
        var bucketed = new ShuffledBatches(7, 3, Choose, _ => (32, 32));
        Assert.Equal(plainBatches, Enumerable.Range(0, 6).Select(_ => bucketed.Next().Batch.Examples).ToList());
    }
}
