// Mirrors transformers src/transformers/models/vit/modeling_vit.py::ViTModel (add_pooling_layer=False)
namespace DreamBooth.Models.Vit;

using DreamBooth.Loading;
using DreamBooth.Models.Clip;
using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>
/// A ViT backbone without pooler, e.g. facebook/dino-vits16 (the DreamBooth paper's DINO metric uses its CLS token).
/// Parameters start uninitialised: use <see cref="FromPretrained"/>, or construct on the meta device.
/// </summary>
public sealed class ViTModel : Module<Tensor, Tensor>
{
    private readonly ViTEmbeddings embeddings;
    private readonly ViTEncoder encoder;
    private readonly Modules.LayerNorm layernorm;

    public ViTModel(ViTConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32) : base(nameof(ViTModel))
    {
        Config = config;
        var dev = device ?? CPU;
        embeddings = new ViTEmbeddings(config, dev, dtype);
        encoder = new ViTEncoder(config, dev, dtype);
        layernorm = UninitializedLayers.LayerNorm(config.HiddenSize, config.LayerNormEps, dev, dtype);
        RegisterComponents();
    }

    public ViTConfig Config { get; }

    /// <summary>Number of elements in all parameters.</summary>
    public long ParameterCount => StateDictLoader.ParameterCount(this);

    /// <summary>
    /// Loads <c>config.json</c> + <c>model[.variant].safetensors</c> strictly. A checkpoint saved with a pooler
    /// (<c>pooler.dense.*</c>) loads too: the pooler is not used for embeddings and is skipped.
    /// </summary>
    public static ViTModel FromPretrained(string folder, Device? device = null, ScalarType dtype = ScalarType.Float32, string? variant = null)
    {
        TorchRuntime.EnsureLoaded();
        var config = ViTConfig.Load(Path.Combine(folder, "config.json"));
        var files = WeightFiles.Find(folder, "model", variant);
        return StateDictLoader.LoadNew(() => new ViTModel(config, device, dtype), files, folder,
            ignore: key => key.StartsWith("pooler.dense.", StringComparison.Ordinal));
    }

    /// <param name="pixelValues">[B, channels, image_size, image_size] from <see cref="ViTImageProcessor"/>.</param>
    /// <returns>last_hidden_state [B, patches + 1, hidden], after the final layernorm.</returns>
    public override Tensor forward(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        return layernorm.call(encoder.call(embeddings.call(pixelValues))).MoveToOuterDisposeScope();
    }

    /// <summary>The CLS embedding <c>last_hidden_state[:, 0]</c>, [B, hidden], not normalised (the DINO metric's feature).</summary>
    public Tensor GetClsEmbedding(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        return call(pixelValues).select(1, 0).contiguous().MoveToOuterDisposeScope();
    }
}
