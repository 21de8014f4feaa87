namespace DreamBooth.Pipelines;

using DreamBooth.Schedulers;

/// <summary>
/// What one <see cref="StableDiffusionPipeline.Generate"/> call actually did: the request as given plus what the pipeline
/// resolved (seed, scheduler class, size). It outlives the result's tensor, so a grid can be described after the batch.
/// </summary>
public sealed record GenerationParameters
{
    public required string Prompt { get; init; }

    /// <summary>As requested; null and "" both mean none.</summary>
    public string? NegativePrompt { get; init; }

    public required int Steps { get; init; }

    /// <summary>The classifier-free guidance scale the request used (A1111's "CFG scale").</summary>
    public required double GuidanceScale { get; init; }

    /// <summary>The diffusers class of the scheduler that ran, e.g. "EulerAncestralDiscreteScheduler".</summary>
    public required string SchedulerClass { get; init; }

    /// <summary>The seed the latents were drawn from (the drawn one when the request left it out).</summary>
    public required ulong Seed { get; init; }

    public required int Width { get; init; }

    public required int Height { get; init; }

    /// <summary>Images in the batch, all drawn from <see cref="Seed"/>.</summary>
    public int NumImages { get; init; } = 1;

    /// <summary>diffusers' clip_skip (A1111's "Clip skip" minus one); null when not used.</summary>
    public int? ClipSkip { get; init; }

    /// <summary>The model's name, e.g. <see cref="StableDiffusionPipeline.Name"/>.</summary>
    public string? Model { get; init; }

    /// <summary>A1111's name for <see cref="SchedulerClass"/>, from the one table in <see cref="SamplerNames"/>.</summary>
    public string Sampler => SamplerNames.A1111(SchedulerClass);

    /// <summary>The parameters of <paramref name="result"/>, which <paramref name="request"/> produced on the model <paramref name="model"/>.</summary>
    public static GenerationParameters From(GenerationRequest request, GenerationResult result, string? model) => new()
    {
        Prompt = request.Prompt,
        NegativePrompt = request.NegativePrompt,
        Steps = request.Steps,
        GuidanceScale = request.GuidanceScale,
        SchedulerClass = result.SchedulerClass,
        Seed = result.Seed,
        Width = result.Width,
        Height = result.Height,
        NumImages = request.NumImages,
        ClipSkip = request.ClipSkip,
        Model = model,
    };
}
