namespace DreamBooth.ToyWorld;

/// <summary>How <see cref="ToyClassifier.Train"/> trains: fresh renders each step, Adam, a fixed seed.</summary>
public sealed record ToyClassifierOptions
{
    /// <summary>Seeds the initial weights, the scene stream and the augmentation noise.</summary>
    public int Seed { get; init; }

    /// <summary>Image side in pixels (the metrics' images must have the same side).</summary>
    public int ImageSize { get; init; } = 32;

    public int Steps { get; init; } = 800;

    public int BatchSize { get; init; } = 32;

    public double LearningRate { get; init; } = 2e-3;

    /// <summary>Share of training images that show the subject (the rest are ordinary scenes, all four shapes alike).</summary>
    public double SubjectShare { get; init; } = 0.2;

    /// <summary>Std of Gaussian pixel noise added in training (pixels in [0, 1]), so blurry or noisy generated images still classify.</summary>
    public double Noise { get; init; } = 0.06;

    /// <summary>Share of training images blurred (5×5 Gaussian), so the soft edges of generated images still classify.</summary>
    public double BlurShare { get; init; } = 0.5;

    /// <summary>Held-out clean renders (another seed's stream) on which the accuracy is measured.</summary>
    public int TestImages { get; init; } = 500;

    public ToyClassifierOptions Validated()
    {
        if (ImageSize is < 16 or > 128) throw new DreamBoothException($"The toy classifier takes 16 to 128 pixel images, not {ImageSize}.");
        if (Steps < 1 || BatchSize < 1 || TestImages < 1) throw new DreamBoothException("Classifier steps, batch size and test images must be at least 1.");
        if (!(LearningRate > 0)) throw new DreamBoothException("The classifier's learning rate must be positive.");
        if (SubjectShare is < 0 or > 1 || BlurShare is < 0 or > 1 || Noise < 0) throw new DreamBoothException("Subject share must be in [0, 1] and noise at least 0.");
        return this;
    }
}
