namespace DreamBooth.ToyWorld;

/// <summary>How to pretrain the toy base model (<see cref="ToyPretrainer"/>).</summary>
public sealed record ToyPretrainOptions
{
    /// <summary>The diffusers folder to write.</summary>
    public required string OutputDir { get; init; }

    /// <summary>Optimizer steps of the text-to-image phase (UNet and text encoder together).</summary>
    public int Steps { get; init; } = 6000;

    /// <summary>Optimizer steps of the autoencoder phase, which runs first.</summary>
    public int VaeSteps { get; init; } = 600;

    /// <summary>Seeds the initialisation, the scene stream and every noise draw.</summary>
    public int Seed { get; init; }

    public int BatchSize { get; init; } = 32;

    public double LearningRate { get; init; } = 1e-3;

    public double VaeLearningRate { get; init; } = 2e-3;

    /// <summary>Linear warm-up steps of both phases (cosine decay after).</summary>
    public int WarmupSteps { get; init; } = 100;

    /// <summary>Share of captions replaced by "" so that the model also learns the unconditional prediction (classifier-free guidance).</summary>
    public double CaptionDropout { get; init; } = 0.1;

    /// <summary>Weight of the KL term of the autoencoder loss (per-element means): small, so reconstructions stay sharp.</summary>
    public double KlWeight { get; init; } = 1e-4;

    /// <summary>
    /// Min-SNR weighting of the loss (Hang et al. 2023, diffusers' --snr_gamma); null for the plain mean. It moves weight
    /// from nearly clean timesteps to noisy ones, where the layout (shape, colours) is decided, and speeds convergence.
    /// </summary>
    public double? SnrGamma { get; init; } = 5;

    /// <summary>Save the model folder every this many text-to-image steps (0: only at the end), so a long run leaves usable weights.</summary>
    public int CheckpointEvery { get; init; } = 500;

    /// <summary>
    /// A toy model folder to continue from: its weights are loaded, the autoencoder phase is skipped and the
    /// text-to-image phase runs <see cref="Steps"/> more steps with a fresh optimizer and schedule.
    /// </summary>
    public string? ContinueFrom { get; init; }

    public ToyModelConfig Model { get; init; } = new();

    /// <summary>Throws <see cref="DreamBoothException"/> for values that cannot train.</summary>
    public ToyPretrainOptions Validated()
    {
        if (string.IsNullOrWhiteSpace(OutputDir)) throw new DreamBoothException("The toy world pretraining needs an output folder.");
        if (Steps < 1 || VaeSteps < 1) throw new DreamBoothException($"Steps ({Steps}) and VAE steps ({VaeSteps}) must be at least 1.");
        if (BatchSize < 1) throw new DreamBoothException($"Batch size must be at least 1, not {BatchSize}.");
        if (!(LearningRate > 0) || !(VaeLearningRate > 0)) throw new DreamBoothException("Learning rates must be positive.");
        if (WarmupSteps < 0) throw new DreamBoothException($"Warm-up steps must be 0 or more, not {WarmupSteps}.");
        if (CaptionDropout is < 0 or >= 1) throw new DreamBoothException($"Caption dropout must be in [0, 1), not {CaptionDropout}.");
        if (SnrGamma is double g && !(g > 0)) throw new DreamBoothException($"The min-SNR gamma must be positive, not {g}.");
        if (CheckpointEvery < 0) throw new DreamBoothException($"Checkpoint interval must be 0 or more, not {CheckpointEvery}.");
        if (ContinueFrom is not null && !File.Exists(Path.Combine(ContinueFrom, "unet", "config.json")))
            throw new DreamBoothException($"{ContinueFrom} is not a toy model folder (no unet/config.json) to continue from.");
        if (Model.ImageSize is not (32 or 64)) throw new DreamBoothException($"Toy images are 32 or 64 pixels wide, not {Model.ImageSize}.");
        return this;
    }
}
