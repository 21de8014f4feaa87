namespace DreamBooth.Evaluation;

/// <summary>
/// What an evaluation renders and with which model: everything <c>metrics.json</c> records so two reports side by side
/// are a fair comparison. Templates use <c>{0}</c> for the identifier and <c>{1}</c> for the class noun.
/// </summary>
public sealed record EvaluationSettings
{
    /// <summary>The model as given (folder, file or repo id) and its resolved local path.</summary>
    public required string Model { get; init; }

    public required string ModelPath { get; init; }

    /// <summary>LoRA files applied to the model, with their scales.</summary>
    public IReadOnlyList<(string File, double Scale)> Loras { get; init; } = [];

    /// <summary>Fine-tuned weight files loaded over the model (a full fine-tune's checkpoint or final UNet and text encoders).</summary>
    public IReadOnlyList<string> Weights { get; init; } = [];

    public required string Identifier { get; init; }

    public required string ClassNoun { get; init; }

    public SubjectKind SubjectKind { get; init; } = SubjectKind.Object;

    public required IReadOnlyList<string> PromptTemplates { get; init; }

    public IReadOnlyList<ulong> Seeds { get; init; } = [0, 1, 2, 3];

    public int Steps { get; init; } = 50;

    public double GuidanceScale { get; init; } = 7.5;

    /// <summary>Sampler name or alias; null = the model's own scheduler.</summary>
    public string? Scheduler { get; init; }

    public int? Width { get; init; }

    public int? Height { get; init; }

    public string? NegativePrompt { get; init; }

    /// <summary>The folder of real subject photos (the reference set of DINO, CLIP-I and PRES).</summary>
    public required string SubjectDir { get; init; }

    /// <summary>The CLIP and DINO models as given (recorded, not loaded here).</summary>
    public required string ClipModel { get; init; }

    public required string DinoModel { get; init; }
}
