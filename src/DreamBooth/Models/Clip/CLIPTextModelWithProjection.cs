// Mirrors transformers src/transformers/models/clip/modeling_clip.py::CLIPTextModelWithProjection
namespace DreamBooth.Models.Clip;

using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

/// <summary>
/// The CLIP text tower plus a bias-free projection of the pooled output (SDXL <c>text_encoder_2</c>, whose
/// <see cref="CLIPTextOutput.TextEmbeds"/> are the UNet's pooled text embedding). Parameters start uninitialised:
/// use <see cref="FromPretrained"/>, or construct on the meta device to inspect keys and shapes.
/// </summary>
public sealed class CLIPTextModelWithProjection : CLIPTextEncoderBase
{
    private readonly CLIPTextTransformer text_model;
    private readonly Modules.Linear text_projection;   // [projection_dim, hidden], no bias

    public CLIPTextModelWithProjection(CLIPTextConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(CLIPTextModelWithProjection), config)
    {
        text_model = new CLIPTextTransformer(config, device ?? CPU, dtype);
        text_projection = UninitializedLayers.Linear(config.HiddenSize, config.ProjectionDim, bias: false, device ?? CPU, dtype);
        RegisterComponents();
    }

    /// <summary>Loads a component folder (see <see cref="CLIPTextModel.FromPretrained"/>); <c>text_projection.weight</c> is required.</summary>
    public static CLIPTextModelWithProjection FromPretrained(string componentDir, Device? device = null,
                                                             ScalarType dtype = ScalarType.Float32, string? variant = null) =>
        LoadFolder(componentDir, device, dtype, variant,
            (config, d, t) => new CLIPTextModelWithProjection(config, d, t), CLIPTextTransformer.IsIgnoredCheckpointKey);

    /// <param name="inputIds">[B, T] token ids.</param>
    public override CLIPTextOutput forward(Tensor inputIds)
    {
        using var scope = NewDisposeScope();
        var output = text_model.call(inputIds);
        var textEmbeds = text_projection.call(output.PooledOutput);               // [B, projection_dim]
        return (output with { TextEmbeds = textEmbeds }).MoveToOuterDisposeScope();
    }

    public override Tensor FinalLayerNorm(Tensor hiddenStates) => text_model.FinalLayerNorm(hiddenStates);
}
