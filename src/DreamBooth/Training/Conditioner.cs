namespace DreamBooth.Training;

using DreamBooth.Pipelines;
using static TorchSharp.torch;

/// <summary>The UNet conditioning of one training batch.</summary>
public sealed record Conditioning(Tensor Context, (Tensor TextEmbeds, Tensor TimeIds)? Added);

/// <summary>
/// Text conditioning for the examples' prompts (instance prompts or captions, class prompts). A frozen text encoder gives
/// the same embeddings every step, so each prompt is encoded once, up front (diffusers' --pre_compute_text_embeddings);
/// a trained one encodes the batch's prompts each step, with gradients.
/// </summary>
internal sealed class Conditioner : IDisposable
{
    private readonly StableDiffusionPipeline pipe;
    private readonly bool trainTextEncoder;
    private readonly Dictionary<string, (Tensor Embeds, Tensor? Pooled)> cache = new(StringComparer.Ordinal);

    /// <param name="prompts">Every prompt an example can have (encoded now when the text encoder is frozen).</param>
    public Conditioner(StableDiffusionPipeline pipe, bool trainTextEncoder, IEnumerable<string> prompts)
    {
        this.pipe = pipe;
        this.trainTextEncoder = trainTextEncoder;
        if (trainTextEncoder) return;
        using var noGrad = no_grad();
        foreach (var prompt in prompts)
            if (!cache.ContainsKey(prompt)) cache[prompt] = Detached(PromptEncoding.EncodeForTraining(pipe, [prompt]));
    }

    /// <summary>Conditioning for [instances…, classes…], each with its own prompt; SDXL time ids are (original size, crop top-left, target size) per image.</summary>
    public Conditioning For(IReadOnlyList<TrainImage> instances, IReadOnlyList<TrainImage> classes)
    {
        var images = instances.Concat(classes).ToList();
        Tensor embeds;
        Tensor? pooled;
        if (trainTextEncoder)
            (embeds, pooled) = PromptEncoding.EncodeForTraining(pipe, images.Select(i => i.Prompt).ToList());
        else
        {
            var parts = images.Select(i => cache[i.Prompt]).ToList();
            embeds = cat(parts.Select(p => p.Embeds).ToArray());
            pooled = parts[0].Pooled is null ? null : cat(parts.Select(p => p.Pooled!).ToArray());
        }
        if (pooled is null) return new Conditioning(embeds, null);
        var timeIds = tensor(images
            .SelectMany(i => new float[] { i.OriginalSize.Height, i.OriginalSize.Width, i.CropTopLeft.Top, i.CropTopLeft.Left, i.TargetSize.Height, i.TargetSize.Width })
            .ToArray(), [images.Count, 6]).to(pipe.Device);
        return new Conditioning(embeds, (pooled, timeIds));
    }

    private static (Tensor, Tensor?) Detached((Tensor Embeds, Tensor? Pooled) e) =>
        (e.Embeds.detach().DetachFromDisposeScope(), e.Pooled?.detach().DetachFromDisposeScope());

    public void Dispose()
    {
        foreach (var (embeds, pooled) in cache.Values)
        {
            embeds.Dispose();
            pooled?.Dispose();
        }
    }
}
