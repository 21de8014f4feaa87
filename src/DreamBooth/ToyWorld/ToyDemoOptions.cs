namespace DreamBooth.ToyWorld;

/// <summary>What <see cref="ToyDemo.Run"/> does: which base, where to write, and how much to train and sample.</summary>
public sealed record ToyDemoOptions
{
    /// <summary>The toy base model (a diffusers folder).</summary>
    public required string BaseModel { get; init; }

    /// <summary>Where instance images, training runs, grids, metrics.json and report.html go.</summary>
    public required string OutputDir { get; init; }

    /// <summary>Seeds the classifier, the instance images, training and every generated image.</summary>
    public int Seed { get; init; }

    /// <summary>LoRA optimizer steps of each run.</summary>
    public int TrainSteps { get; init; } = 300;

    public double LearningRate { get; init; } = 7e-4;

    /// <summary>Optimizer steps of each full fine-tuning run (UNet and, with <see cref="TrainTextEncoder"/>, the text encoder).</summary>
    public int FullTrainSteps { get; init; } = 300;

    /// <summary>Learning rate of the full fine-tuning runs: every weight moves, so far lower than LoRA's.</summary>
    public double FullLearningRate { get; init; } = 3e-4;

    /// <summary>LoRA rank of each run.</summary>
    public int Rank { get; init; } = 4;

    /// <summary>The text encoder trains too (LoRA adapters, or all its weights in full fine-tuning), so the identifier token can move (its embedding never trained in pretraining).</summary>
    public bool TrainTextEncoder { get; init; } = true;

    /// <summary>Weight of the class loss in the prior-preservation run (the paper's λ = 1).</summary>
    public double PriorLossWeight { get; init; } = 1;

    /// <summary>Instance images of the subject, each on its own background; the other backgrounds are the held-out contexts.</summary>
    public int InstanceImages { get; init; } = 4;

    /// <summary>Class images the base model draws for prior preservation.</summary>
    public int NumClassImages { get; init; } = 50;

    /// <summary>Denoising steps of the class images.</summary>
    public int ClassInferenceSteps { get; init; } = 25;

    /// <summary>Images per prompt and run in the grids (one seed, one batch).</summary>
    public int ImagesPerPrompt { get; init; } = 16;

    /// <summary>Denoising steps of the grid images.</summary>
    public int InferenceSteps { get; init; } = 25;

    public double GuidanceScale { get; init; } = 5;

    /// <summary>Training steps of the metrics' classifier.</summary>
    public int ClassifierSteps { get; init; } = 800;

    /// <summary>Image side in pixels (the toy base model's).</summary>
    public int ImageSize { get; init; } = 32;

    /// <summary>The same demo in a fraction of the time: fewer steps and images everywhere.</summary>
    public ToyDemoOptions Quick() => this with
    {
        TrainSteps = 60, FullTrainSteps = 30, NumClassImages = 6, ClassInferenceSteps = 10, ImagesPerPrompt = 2, InferenceSteps = 10, ClassifierSteps = 500,
    };

    /// <summary>Throws <see cref="DreamBoothException"/> for values the demo cannot run with.</summary>
    public ToyDemoOptions Validated()
    {
        if (string.IsNullOrWhiteSpace(OutputDir)) throw new DreamBoothException("The demo needs an output folder.");
        if (!Directory.Exists(BaseModel))
            throw new DreamBoothException($"The toy base model {BaseModel} does not exist; pretrain one with `dreambooth toyworld pretrain --output {BaseModel}` or pass --base.");
        if (TrainSteps < 1 || FullTrainSteps < 1 || InferenceSteps < 1 || ClassInferenceSteps < 1 || ClassifierSteps < 1)
            throw new DreamBoothException("Training, inference and classifier steps must be at least 1.");
        if (InstanceImages < 1 || InstanceImages >= ToyPalette.BackgroundColors.Count)
            throw new DreamBoothException($"Between 1 and {ToyPalette.BackgroundColors.Count - 1} instance images (one background stays held out), not {InstanceImages}.");
        if (ImagesPerPrompt < 2) throw new DreamBoothException($"Diversity needs at least 2 images per prompt, not {ImagesPerPrompt}.");
        if (NumClassImages < 1) throw new DreamBoothException($"Prior preservation needs at least 1 class image, not {NumClassImages}.");
        if (Rank < 1) throw new DreamBoothException($"The LoRA rank must be at least 1, not {Rank}.");
        if (!(PriorLossWeight >= 0)) throw new DreamBoothException($"The prior loss weight must be 0 or more, not {PriorLossWeight}.");
        if (!(LearningRate > 0) || !(FullLearningRate > 0) || !double.IsFinite(GuidanceScale)) throw new DreamBoothException("The learning rates must be positive and the guidance scale finite.");
        return this;
    }
}
