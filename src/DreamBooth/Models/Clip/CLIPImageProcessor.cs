// Mirrors transformers src/transformers/models/clip/image_processing_clip.py::CLIPImageProcessor
namespace DreamBooth.Models.Clip;

using DreamBooth.Imaging;
using DreamBooth.Loading;

/// <summary>
/// CLIP's preprocessing: resize so the shortest edge is 224 (PIL bicubic), centre crop 224×224, rescale by 1/255,
/// normalise with OpenAI's mean/std, unless <c>preprocessor_config.json</c> says otherwise. Images are RGB already
/// (<see cref="ImageLoader"/> converts), which is what <c>do_convert_rgb</c> asks for.
/// </summary>
public sealed class CLIPImageProcessor(ImageProcessorConfig config) : BaseImageProcessor(config)
{
    /// <summary>transformers' CLIPImageProcessor defaults, used for keys the file omits.</summary>
    public static ImageProcessorConfig Defaults { get; } = new()
    {
        Size = new ImageSizeSpec(ShortestEdge: 224),
        Resample = PilFilter.Bicubic,
        DoCenterCrop = true,
        CropSize = new ImageSizeSpec(Height: 224, Width: 224),
        ImageMean = [0.48145466, 0.4578275, 0.40821073],
        ImageStd = [0.26862954, 0.26130258, 0.27577711],
    };

    /// <summary>Reads <c>preprocessor_config.json</c> in <paramref name="folder"/>; without one, the defaults apply (as for openai/clip-vit-base-patch32).</summary>
    public static CLIPImageProcessor FromPretrained(string folder)
    {
        var path = Path.Combine(folder, "preprocessor_config.json");
        return new CLIPImageProcessor(File.Exists(path) ? ImageProcessorConfig.From(ConfigFile.Load(path), Defaults, defaultToSquare: false) : Defaults);
    }
}
