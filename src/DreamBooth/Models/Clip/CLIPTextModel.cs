// Mirrors transformers src/transformers/models/clip/modeling_clip.py::CLIPTextModel
namespace DreamBooth.Models.Clip;

using static TorchSharp.torch;

/// <summary>
/// The CLIP text tower (SD 1.x / 2.x <c>text_encoder</c>, SDXL <c>text_encoder</c>). Keys: <c>text_model.*</c>.
/// The constructor leaves parameters uninitialised (this model is only ever loaded): use
/// <see cref="FromPretrained"/>, or construct on the meta device to inspect keys and shapes.
/// </summary>
public sealed class CLIPTextModel : CLIPTextEncoderBase
{
    private readonly CLIPTextTransformer text_model;

    public CLIPTextModel(CLIPTextConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(CLIPTextModel), config)
    {
        text_model = new CLIPTextTransformer(config, device ?? CPU, dtype);
        RegisterComponents();
    }

    /// <summary>
    /// Loads <c>config.json</c> + <c>model[.variant].safetensors</c> (or shards) from a component folder such as
    /// <c>…/text_encoder</c>, reading the weights straight into the parameters (strict: every key must match).
    /// </summary>
    /// <param name="dtype">Parameter dtype; stored weights are converted while reading.</param>
    /// <param name="variant">e.g. "fp16": prefer <c>model.fp16.safetensors</c>, fall back to <c>model.safetensors</c>.</param>
    public static CLIPTextModel FromPretrained(string componentDir, Device? device = null,
                                              ScalarType dtype = ScalarType.Float32, string? variant = null) =>
        LoadFolder(componentDir, device, dtype, variant, (config, d, t) => new CLIPTextModel(config, d, t),
            // transformers drops text_projection.weight (with a warning) when a projection checkpoint is loaded
            // into the plain model; do the same so SDXL's text_encoder_2 can be used without its projection.
            key => CLIPTextTransformer.IsIgnoredCheckpointKey(key) || key == "text_projection.weight");

    /// <param name="inputIds">[B, T] token ids.</param>
    public override CLIPTextOutput forward(Tensor inputIds) => text_model.call(inputIds);

    public override Tensor FinalLayerNorm(Tensor hiddenStates) => text_model.FinalLayerNorm(hiddenStates);
}
