// Mirrors transformers src/transformers/models/vit/image_processing_vit.py::ViTImageProcessor
namespace DreamBooth.Models.Vit;

using DreamBooth.Imaging;
using DreamBooth.Loading;

/// <summary>
/// ViT's preprocessing: resize to exactly height × width (aspect ratio NOT kept, no crop) with PIL's filter (bilinear by
/// default), rescale by 1/255, normalise (facebook/dino-vits16 uses ImageNet's mean/std), as <c>preprocessor_config.json</c> says.
/// </summary>
public sealed class ViTImageProcessor(ImageProcessorConfig config) : BaseImageProcessor(config)
{
    /// <summary>transformers' ViTImageProcessor defaults (IMAGENET_STANDARD mean/std 0.5), used for keys the file omits.</summary>
    public static ImageProcessorConfig Defaults { get; } = new()
    {
        Size = new ImageSizeSpec(Height: 224, Width: 224),
        Resample = PilFilter.Bilinear,
        DoCenterCrop = false,
    };

    /// <summary>Reads <c>preprocessor_config.json</c> in <paramref name="folder"/>; without one, the defaults apply.</summary>
    public static ViTImageProcessor FromPretrained(string folder)
    {
        var path = Path.Combine(folder, "preprocessor_config.json");
        var config = File.Exists(path) ? ImageProcessorConfig.From(ConfigFile.Load(path), Defaults, defaultToSquare: true) : Defaults;
        // ViTImageProcessor has no centre crop, whatever the file says.
        return new ViTImageProcessor(config with { DoCenterCrop = false });
    }
}
