// Mirrors transformers src/transformers/models/clip/modeling_clip.py::CLIPVisionModel
namespace DreamBooth.Models.Clip;

using DreamBooth.Loading;
using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

/// <summary>
/// The CLIP image tower alone (keys <c>vision_model.*</c>). Parameters start uninitialised: use
/// <see cref="FromPretrained"/>, or construct on the meta device to inspect keys and shapes.
/// </summary>
public sealed class CLIPVisionModel : Module<Tensor, CLIPVisionOutput>
{
    private readonly CLIPVisionTransformer vision_model;

    public CLIPVisionModel(CLIPVisionConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base(nameof(CLIPVisionModel))
    {
        Config = config;
        vision_model = new CLIPVisionTransformer(config, device ?? CPU, dtype);
        RegisterComponents();
    }

    public CLIPVisionConfig Config { get; }

    /// <summary>
    /// Loads a folder with <c>config.json</c> + <c>model[.variant].safetensors</c>. The config may be a vision config or
    /// a whole <c>CLIPModel</c> config (its <c>vision_config</c> is used; the text keys of the weights are then skipped).
    /// </summary>
    public static CLIPVisionModel FromPretrained(string folder, Device? device = null, ScalarType dtype = ScalarType.Float32,
                                                 string? variant = null)
    {
        TorchRuntime.EnsureLoaded();
        var file = ConfigFile.Load(Path.Combine(folder, "config.json"));
        var whole = file.Has("vision_config");
        var config = whole ? CLIPConfig.From(file).Vision : CLIPVisionConfig.From(file);
        var files = WeightFiles.Find(folder, "model", variant);
        return StateDictLoader.LoadNew(() => new CLIPVisionModel(config, device ?? CPU, dtype), files, folder,
            ignore: key => CLIPVisionTransformer.IsIgnoredCheckpointKey(key) || (whole && !key.StartsWith("vision_model.", StringComparison.Ordinal)));
    }

    /// <param name="pixelValues">[B, channels, image_size, image_size] from <see cref="CLIPImageProcessor"/>.</param>
    public override CLIPVisionOutput forward(Tensor pixelValues) => vision_model.call(pixelValues);
}
