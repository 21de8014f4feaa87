// Mirrors transformers src/transformers/models/clip/modeling_clip.py::CLIPVisionTransformer
namespace DreamBooth.Models.Clip;

using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>Patch embeddings → <c>pre_layrnorm</c> → bidirectional encoder → <c>post_layernorm</c> of the class token.</summary>
public sealed class CLIPVisionTransformer : Module<Tensor, CLIPVisionOutput>
{
    private readonly CLIPVisionEmbeddings embeddings;
    private readonly Modules.LayerNorm pre_layrnorm;   // sic: transformers' spelling is the state_dict key
    private readonly CLIPEncoder encoder;
    private readonly Modules.LayerNorm post_layernorm;

    public CLIPVisionTransformer(CLIPVisionConfig config, Device device, ScalarType dtype) : base(nameof(CLIPVisionTransformer))
    {
        embeddings = new CLIPVisionEmbeddings(config, device, dtype);
        pre_layrnorm = UninitializedLayers.LayerNorm(config.HiddenSize, config.LayerNormEps, device, dtype);
        encoder = new CLIPEncoder(config.EncoderConfig, device, dtype);
        post_layernorm = UninitializedLayers.LayerNorm(config.HiddenSize, config.LayerNormEps, device, dtype);
        RegisterComponents();
    }

    /// <summary>Checkpoint keys with no parameter: transformers before 4.31 saved the plain-arange <c>position_ids</c> buffer.</summary>
    public static bool IsIgnoredCheckpointKey(string key) => key == "vision_model.embeddings.position_ids";

    /// <param name="pixelValues">[B, channels, image_size, image_size] from the image processor.</param>
    public override CLIPVisionOutput forward(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var hidden = pre_layrnorm.call(embeddings.call(pixelValues));            // [B, N + 1, C]
        // Every patch sees every other: an all-zero additive mask.
        var noMask = zeros([1, 1, 1, 1], hidden.dtype, hidden.device);
        var last = encoder.call(hidden, noMask)[^1];                             // [B, N + 1, C]
        var pooled = post_layernorm.call(last.select(1, 0));                     // [B, C]
        return new CLIPVisionOutput(last, pooled).MoveToOuterDisposeScope();
    }
}
