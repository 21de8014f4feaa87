namespace DreamBooth.Training;

using DreamBooth.Imaging;
using DreamBooth.Models.Autoencoders;
using static TorchSharp.torch;

/// <summary>
/// --cache-latents: every image goes through the frozen VAE once, before training; each step then samples from the
/// stored latent distribution (mean + std · noise) instead of running the encoder. Augmentations (random crop/flip)
/// are drawn once, from torch's global generator right after the adapters are initialised, so a resumed run (which
/// seeds and initialises the same way before restoring its checkpoint) builds the same cache.
/// </summary>
internal sealed class LatentCache : IDisposable
{
    // A class image is cached once per bucket it trains in (the bucket of each instance image it is paired with).
    private readonly Dictionary<(bool IsClass, int Index, (int, int)? Bucket), (Tensor Mean, Tensor Std, TrainImage Image)> entries = [];

    public LatentCache(DreamBoothDataset data, AutoencoderKL vae, ScalarType dtype)
    {
        using var noGrad = no_grad();
        var keys = Enumerable.Range(0, data.InstanceCount).Select(i => (false, i, (ValueTuple<int, int>?)null))
            .Concat(Enumerable.Range(0, data.ClassCount).SelectMany(c => ClassBuckets(data, c).Select(b => (true, c, b))));
        foreach (var (isClass, i, bucket) in keys)
        {
            using var scope = NewDisposeScope();
            var image = data.Image(isClass, i, null, bucket);
            using var dist = vae.Encode(image.Pixels.unsqueeze(0).to(dtype));
            var mean = dist.Mean.to(ScalarType.Float32).detach().MoveToOuterDisposeScope().DetachFromDisposeScope();
            var std = dist.Std.to(ScalarType.Float32).detach().MoveToOuterDisposeScope().DetachFromDisposeScope();
            entries[(isClass, i, bucket)] = (mean, std, image with { Pixels = empty(0) });
        }
    }

    // The buckets class image c trains in, in example order; [null] without buckets.
    private static IEnumerable<(int, int)?> ClassBuckets(DreamBoothDataset data, int c) =>
        Enumerable.Range(0, data.Count).Where(e => data.ImagesOf(e).Class == c).Select(data.BucketOf).Distinct();

    /// <summary>What the data loader draws per example when latents are cached: nothing.</summary>
    public ExampleChoice Choice { get; } = new(new CropChoice(false, 0, 0), null);

    /// <summary>The stored distributions of [instances…, classes…] of a batch, and their image facts.</summary>
    public (Tensor Mean, Tensor Std, List<TrainImage> Instances, List<TrainImage> Classes) Batch(DreamBoothDataset data, int[] batch, bool prior)
    {
        var keys = batch.Select(b => (false, data.ImagesOf(b).Instance, (ValueTuple<int, int>?)null))
            .Concat(prior ? batch.Select(b => (true, data.ImagesOf(b).Class!.Value, data.BucketOf(b))) : []).ToList();
        var mean = cat(keys.Select(k => entries[k].Mean).ToArray());
        var std = cat(keys.Select(k => entries[k].Std).ToArray());
        var images = keys.Select(k => entries[k].Image).ToList();
        return (mean, std, images.Take(batch.Length).ToList(), images.Skip(batch.Length).ToList());
    }

    public void Dispose()
    {
        foreach (var (mean, std, image) in entries.Values)
        {
            mean.Dispose();
            std.Dispose();
            image.Pixels.Dispose();
        }
    }
}
