namespace DreamBooth.ToyWorld;

/// <summary>How to train the toy world's CLIP (<see cref="ToyClipTrainer"/>).</summary>
public sealed record ToyClipOptions
{
    /// <summary>The CLIPModel folder to write.</summary>
    public required string OutputDir { get; init; }

    public int Steps { get; init; } = 1500;

    /// <summary>Seeds the initialisation, the scene stream, the captions' variants and the pixel noise.</summary>
    public int Seed { get; init; }

    /// <summary>Image–caption pairs per step (the contrastive loss compares every image with every caption of the batch).</summary>
    public int BatchSize { get; init; } = 128;

    public double LearningRate { get; init; } = 1e-3;

    /// <summary>Linear warm-up steps, then cosine decay.</summary>
    public int WarmupSteps { get; init; } = 100;

    public double WeightDecay { get; init; } = 0.05;

    /// <summary>Share of pairs that show the DreamBooth subject, captioned with its colours ("a magenta and black checkered box").</summary>
    public double SubjectShare { get; init; } = 0.15;

    /// <summary>
    /// Share of captions shortened to leave out the object's colour, the background or both ("a photo of a box on a
    /// blue background"), as evaluation prompts do; the rest are full captions.
    /// </summary>
    public double PartialCaptionShare { get; init; } = 0.4;

    /// <summary>Std of Gaussian pixel noise added in training (pixels in [0, 1]), so generated images, never quite clean, embed like renders.</summary>
    public double Noise { get; init; } = 0.04;

    public ToyClipConfig Model { get; init; } = new();

    /// <summary>Throws <see cref="DreamBoothException"/> for values that cannot train.</summary>
    public ToyClipOptions Validated()
    {
        if (string.IsNullOrWhiteSpace(OutputDir)) throw new DreamBoothException("The toy CLIP training needs an output folder.");
        if (Steps < 1) throw new DreamBoothException($"Steps must be at least 1, not {Steps}.");
        if (BatchSize < 2) throw new DreamBoothException($"A contrastive batch needs at least 2 pairs, not {BatchSize}.");
        if (!(LearningRate > 0)) throw new DreamBoothException($"The learning rate must be positive, not {LearningRate}.");
        if (WarmupSteps < 0) throw new DreamBoothException($"Warm-up steps must be 0 or more, not {WarmupSteps}.");
        if (!(WeightDecay >= 0)) throw new DreamBoothException($"Weight decay must be 0 or more, not {WeightDecay}.");
        if (SubjectShare is < 0 or > 1 || PartialCaptionShare is < 0 or > 1)
            throw new DreamBoothException("Subject share and partial-caption share must be in [0, 1].");
        if (!(Noise >= 0)) throw new DreamBoothException($"Pixel noise must be 0 or more, not {Noise}.");
        if (Model.ImageSize is not (32 or 64)) throw new DreamBoothException($"Toy images are 32 or 64 pixels wide, not {Model.ImageSize}.");
        if (Model.ImageSize % Model.PatchSize != 0)
            throw new DreamBoothException($"The patch size ({Model.PatchSize}) must divide the image size ({Model.ImageSize}).");
        return this;
    }
}
