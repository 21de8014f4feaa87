// Loading of CLIP text encoders from a transformers component folder (config.json + model.safetensors).
namespace DreamBooth.Models.Clip;

using DreamBooth.Torch;
using static TorchSharp.torch;

/// <summary>Picks the class a text-encoder folder needs from its config's <c>architectures</c>.</summary>
public static class CLIPTextEncoder
{
    /// <summary>
    /// Loads <see cref="CLIPTextModelWithProjection"/> when config.json names that architecture (SDXL's
    /// text_encoder_2), else <see cref="CLIPTextModel"/>.
    /// </summary>
    public static CLIPTextEncoderBase FromPretrained(string componentDir, Device? device = null,
                                                    ScalarType dtype = ScalarType.Float32, string? variant = null)
    {
        TorchRuntime.EnsureLoaded();
        var config = CLIPTextConfig.Load(Path.Combine(componentDir, "config.json"));
        return config.HasProjection
            ? CLIPTextModelWithProjection.FromPretrained(componentDir, device, dtype, variant)
            : CLIPTextModel.FromPretrained(componentDir, device, dtype, variant);
    }

    /// <summary>Builds the class named by <paramref name="config"/> (uninitialised parameters; META device for a dry build).</summary>
    public static CLIPTextEncoderBase Create(CLIPTextConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32) =>
        config.HasProjection
            ? new CLIPTextModelWithProjection(config, device, dtype)
            : new CLIPTextModel(config, device, dtype);
}
