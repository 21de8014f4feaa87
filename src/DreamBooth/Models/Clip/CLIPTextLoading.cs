// Loading of CLIP text encoders from a transformers component folder (config.json + model.safetensors).
namespace DreamBooth.Models.Clip;

using DreamBooth.Loading;
using DreamBooth.Torch;
using static TorchSharp.torch;

/// <summary>Picks the class a text-encoder folder needs from its config's <c>architectures</c>.</summary>
public static class CLIPTextEncoder
{
    /// <summary>
    /// Loads <see cref="CLIPTextModelWithProjection"/> when config.json names that architecture (SDXL's
    /// text_encoder_2), else <see cref="CLIPTextModel"/>.
    /// </summary>
    public static ICLIPTextEncoder FromPretrained(string componentDir, Device? device = null,
                                                 ScalarType dtype = ScalarType.Float32, string? variant = null)
    {
        TorchRuntime.EnsureLoaded();
        var config = CLIPTextConfig.Load(Path.Combine(componentDir, "config.json"));
        return config.HasProjection
            ? CLIPTextModelWithProjection.FromPretrained(componentDir, device, dtype, variant)
            : CLIPTextModel.FromPretrained(componentDir, device, dtype, variant);
    }

    /// <summary>Builds the class named by <paramref name="config"/> (uninitialised parameters; META device for a dry build).</summary>
    public static ICLIPTextEncoder Create(CLIPTextConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32) =>
        config.HasProjection
            ? new CLIPTextModelWithProjection(config, device, dtype)
            : new CLIPTextModel(config, device, dtype);
}

internal static class CLIPTextLoading
{
    public static T Load<T>(string componentDir, Device? device, ScalarType dtype, string? variant,
                            Func<CLIPTextConfig, Device, ScalarType, T> create, Func<string, bool> ignore)
        where T : nn.Module
    {
        TorchRuntime.EnsureLoaded();
        if (dtype is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64))
            throw new DreamBoothException($"Text encoder dtype must be float32, float16, bfloat16 or float64, not {dtype}.");
        var config = CLIPTextConfig.Load(Path.Combine(componentDir, "config.json"));
        var files = WeightFiles.Find(componentDir, "model", variant);
        // Built with empty parameters on the target device, then filled in place: one copy of the weights.
        var model = create(config, device ?? CPU, dtype);
        try
        {
            using var source = TensorSource.Open(files);
            StateDictLoader.Load(model, source, componentDir, ignore);
            model.eval();   // transformers' from_pretrained returns eval mode (no attention dropout)
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
