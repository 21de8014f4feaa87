namespace DreamBooth.Tests.Training;

using DreamBooth.Imaging;
using DreamBooth.IO;
using DreamBooth.Training;

/// <summary>--enable-bucket end to end on the tiny SD 1.x pipeline: photos of three aspects, prior preservation, cached or not.</summary>
[Collection(TrainingRuns.Name)]
public sealed class BucketTrainingTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("bucket-run").FullName;

    public void Dispose()
    {
        try { Directory.Delete(root, true); } catch (IOException) { }
    }

    private string Images(string name, params (int W, int H)[] sizes)
    {
        var dir = Directory.CreateDirectory(Path.Combine(root, name)).FullName;
        var random = new Random(name.Length);
        for (int i = 0; i < sizes.Length; i++)
        {
            var image = new RgbImage(sizes[i].W, sizes[i].H);
            random.NextBytes(image.Pixels);
            PngWriter.Write(Path.Combine(dir, $"{i:D2}.png"), image);
        }
        return dir;
    }

    private TrainOptions Options(string output, bool buckets, bool cache) => new()
    {
        InstanceDataDir = Images("photos", (48, 32), (32, 48), (40, 40), (60, 36)),   // buckets 40×24, 24×40, 32×32, 40×24
        InstancePrompt = "a photo of sks dog",
        WithPriorPreservation = true,
        ClassDataDir = Images("classes", (32, 32), (32, 32)),
        ClassPrompt = "a photo of dog",
        NumClassImages = 2,
        Resolution = 32,
        EnableBucket = buckets,
        MinBucketReso = 16,
        MaxBucketReso = 64,
        BucketResoSteps = 8,
        CacheLatents = cache,
        TrainBatchSize = 2,
        GradientAccumulationSteps = 1,
        MaxTrainSteps = 3,
        CheckpointingSteps = 100,
        Seed = 5,
        OutputDir = Path.Combine(root, output),
    };

    private static IReadOnlyList<double> Losses(TrainOptions o) =>
        [.. TrainingLog.Read(Path.Combine(o.OutputDir, DreamBoothTrainer.LogFile)).Select(e => e.Loss)];

    [Fact]
    public void Bucketed_TrainsEveryAspect_WithClassImagesInTheirInstancesBuckets_CachedOrNot()
    {
        var square = Options("square", buckets: false, cache: false);
        var bucketed = Options("bucketed", buckets: true, cache: false);
        var cached = Options("cached", buckets: true, cache: true);
        foreach (var o in new[] { square, bucketed, cached }) new DreamBoothTrainer(o, Fixtures.Path("sd15-tiny")).Run();

        foreach (var o in new[] { square, bucketed, cached })
        {
            Assert.Equal(3, Losses(o).Count);
            Assert.All(Losses(o), l => Assert.True(double.IsFinite(l)));
        }
        // The buckets change what trains (other crops and sizes), not whether it trains.
        Assert.NotEqual(Losses(square), Losses(bucketed));
    }

    [Fact]
    public void Bucketed_ResumedMidEpoch_EndsBitwiseEqual()
    {
        // Three one-bucket batches per epoch (one of two examples): the checkpoint at step 2 falls mid-epoch.
        var straight = Options("straight", buckets: true, cache: false) with { MaxTrainSteps = 4, CheckpointingSteps = 2 };
        var a = Weights(new DreamBoothTrainer(straight, Fixtures.Path("sd15-tiny")).Run().WeightsFile!);
        var first = straight with { OutputDir = Path.Combine(root, "resumed"), MaxTrainSteps = 2 };
        new DreamBoothTrainer(first, Fixtures.Path("sd15-tiny")).Run();
        var b = Weights(new DreamBoothTrainer(first with { MaxTrainSteps = 4, ResumeFromCheckpoint = "latest" }, Fixtures.Path("sd15-tiny")).Run().WeightsFile!);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (name, t) in a)
            Assert.True(t.equal(b[name]).all().item<bool>(), $"{name} differs after a resume");
    }

    private static Dictionary<string, TorchSharp.torch.Tensor> Weights(string file)
    {
        using var f = SafeTensorsFile.Open(file);
        return f.Tensors.ToDictionary(t => t.Name, t => f.Read(t.Name));
    }

    [Fact]
    public void ResolutionOutsideTheBucketSides_IsAnInputError()
    {
        var o = Options("bad", buckets: true, cache: false) with { MinBucketReso = 64, MaxBucketReso = 128, Resolution = null };
        var ex = Assert.Throws<DreamBoothException>(() => new DreamBoothTrainer(o, Fixtures.Path("sd15-tiny")).Run());
        Assert.Contains("--min-bucket-reso", ex.Message);
    }
}
