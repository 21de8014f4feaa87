namespace DreamBooth.Training;

using DreamBooth.Pipelines;
using static TorchSharp.torch;

/// <summary>The UNet conditioning of one training batch.</summary>
public sealed record Conditioning(Tensor Context, (Tensor TextEmbeds, Tensor TimeIds)? Added);

/// <summary>
/// Text conditioning for the instance and class prompts. A frozen text encoder gives the same embeddings every step,
/// so they are computed once (diffusers' --pre_compute_text_embeddings); a trained one runs each step, with gradients.
/// </summary>
internal sealed class Conditioner : IDisposable
{
    private readonly StableDiffusionPipeline pipe;
    private readonly bool trainTextEncoder;
    private readonly string instancePrompt;
    private readonly string? classPrompt;
    private readonly int resolution;
    private readonly (Tensor Embeds, Tensor? Pooled)? instanceCache;
    private readonly (Tensor Embeds, Tensor? Pooled)? classCache;

    public Conditioner(StableDiffusionPipeline pipe, bool trainTextEncoder, string instancePrompt, string? classPrompt, int resolution)
    {
        this.pipe = pipe;
        this.trainTextEncoder = trainTextEncoder;
        this.instancePrompt = instancePrompt;
        this.classPrompt = classPrompt;
        this.resolution = resolution;
        if (trainTextEncoder) return;
        using var noGrad = no_grad();
        instanceCache = Detached(PromptEncoding.EncodeForTraining(pipe, [instancePrompt]));
        if (classPrompt is not null) classCache = Detached(PromptEncoding.EncodeForTraining(pipe, [classPrompt]));
    }

    /// <summary>Conditioning for [instances…, classes…]; SDXL time ids are (original size, crop top-left, target size) per image.</summary>
    public Conditioning For(IReadOnlyList<TrainImage> instances, IReadOnlyList<TrainImage> classes)
    {
        Tensor embeds;
        Tensor? pooled;
        if (trainTextEncoder)
        {
            var prompts = instances.Select(_ => instancePrompt).Concat(classes.Select(_ => classPrompt!)).ToList();
            (embeds, pooled) = PromptEncoding.EncodeForTraining(pipe, prompts);
        }
        else
        {
            var (ie, ip) = instanceCache!.Value;
            var parts = new List<Tensor> { ie.expand(instances.Count, -1, -1) };
            var pooledParts = ip is null ? null : new List<Tensor> { ip.expand(instances.Count, -1) };
            if (classes.Count > 0)
            {
                var (ce, cp) = classCache!.Value;
                parts.Add(ce.expand(classes.Count, -1, -1));
                pooledParts?.Add(cp!.expand(classes.Count, -1));
            }
            embeds = cat(parts.ToArray());
            pooled = pooledParts is null ? null : cat(pooledParts.ToArray());
        }
        if (pooled is null) return new Conditioning(embeds, null);
        var timeIds = tensor(instances.Concat(classes)
            .SelectMany(i => new float[] { i.OriginalSize.Height, i.OriginalSize.Width, i.CropTopLeft.Top, i.CropTopLeft.Left, resolution, resolution })
            .ToArray(), [instances.Count + classes.Count, 6]).to(pipe.Device);
        return new Conditioning(embeds, (pooled, timeIds));
    }

    private static (Tensor, Tensor?) Detached((Tensor Embeds, Tensor? Pooled) e) =>
        (e.Embeds.detach().DetachFromDisposeScope(), e.Pooled?.detach().DetachFromDisposeScope());

    public void Dispose()
    {
        instanceCache?.Embeds.Dispose();
        instanceCache?.Pooled?.Dispose();
        classCache?.Embeds.Dispose();
        classCache?.Pooled?.Dispose();
    }
}
