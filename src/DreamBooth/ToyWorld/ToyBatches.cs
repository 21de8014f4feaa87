namespace DreamBooth.ToyWorld;

using static TorchSharp.torch;

/// <summary>Batches of freshly rendered scenes: the world is procedural, so every step sees new images.</summary>
internal sealed class ToyBatches(ToySceneSampler scenes, int imageSize)
{
    /// <summary>Pixels of the autoencoder phase: ordinary scenes and, every other image, a generic one (<see cref="ToySceneSampler.NextGeneric"/>).</summary>
    public Tensor NextForAutoencoder(int count)
    {
        var images = Enumerable.Range(0, count).Select(i => ToyRenderer.Render(i % 2 == 0 ? scenes.Next() : scenes.NextGeneric(), imageSize)).ToList();
        using var scope = NewDisposeScope();
        return stack([.. images.Select(i => i.ToTensor(normalize: true))]).MoveToOuterDisposeScope();
    }

    /// <summary>Pixels [B, 3, S, S] in [-1, 1] and the captions of the next <paramref name="count"/> scenes.</summary>
    public (Tensor Pixels, string[] Captions) Next(int count)
    {
        var samples = scenes.Samples(count, imageSize);
        using var scope = NewDisposeScope();
        var pixels = stack([.. samples.Select(s => s.Image.ToTensor(normalize: true))]);
        return (pixels.MoveToOuterDisposeScope(), [.. samples.Select(s => s.Caption)]);
    }
}
