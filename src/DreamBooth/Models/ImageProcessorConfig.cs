// Mirrors transformers src/transformers/image_processing_utils.py (get_size_dict) and the keys of preprocessor_config.json
namespace DreamBooth.Models;

using System.Text.Json.Nodes;
using DreamBooth.Imaging;
using DreamBooth.Loading;

/// <summary>A target size: either the shortest edge (aspect ratio kept) or an exact height × width.</summary>
public sealed record ImageSizeSpec(int? ShortestEdge = null, int? Height = null, int? Width = null)
{
    public override string ToString() => ShortestEdge is int s ? $"shortest_edge {s}" : $"{Width}x{Height}";
}

/// <summary>
/// An image processor's <c>preprocessor_config.json</c>, in both the legacy form (<c>size: 224</c>, as openai/clip-vit-base-patch32
/// and facebook/dino-vits16 publish it) and the current one (<c>size: {"shortest_edge": 224}</c>). Absent keys take the
/// defaults the caller passes (each processor class has its own, as in transformers).
/// </summary>
public sealed record ImageProcessorConfig
{
    public bool DoResize { get; init; } = true;

    public ImageSizeSpec Size { get; init; } = new(Height: 224, Width: 224);

    /// <summary>PIL filter number: 2 = bilinear, 3 = bicubic.</summary>
    public PilFilter Resample { get; init; } = PilFilter.Bilinear;

    public bool DoCenterCrop { get; init; }

    public ImageSizeSpec CropSize { get; init; } = new(Height: 224, Width: 224);

    public bool DoRescale { get; init; } = true;

    public double RescaleFactor { get; init; } = 1.0 / 255;

    public bool DoNormalize { get; init; } = true;

    public IReadOnlyList<double> ImageMean { get; init; } = [0.5, 0.5, 0.5];

    public IReadOnlyList<double> ImageStd { get; init; } = [0.5, 0.5, 0.5];

    /// <summary>
    /// Reads <paramref name="file"/> over <paramref name="defaults"/>. <paramref name="defaultToSquare"/> is how a bare
    /// integer size is read: true = height and width (ViT), false = shortest edge (CLIP).
    /// </summary>
    public static ImageProcessorConfig From(ConfigFile file, ImageProcessorConfig defaults, bool defaultToSquare)
    {
        var resample = file.Optional("resample", (int)defaults.Resample);
        if (!Enum.IsDefined((PilFilter)resample))
            throw new DreamBoothException($"{file.Path}: 'resample' is {resample}; supported: 2 (bilinear), 3 (bicubic).");
        var config = new ImageProcessorConfig
        {
            DoResize = file.Optional("do_resize", defaults.DoResize),
            Size = file.Has("size") ? ParseSize(file, "size", defaultToSquare) : defaults.Size,
            Resample = (PilFilter)resample,
            DoCenterCrop = file.Optional("do_center_crop", defaults.DoCenterCrop),
            // transformers reads crop_size with default_to_square=True: an integer is height and width.
            CropSize = file.Has("crop_size") ? ParseSize(file, "crop_size", defaultToSquare: true) : defaults.CropSize,
            DoRescale = file.Optional("do_rescale", defaults.DoRescale),
            RescaleFactor = file.Optional("rescale_factor", defaults.RescaleFactor),
            DoNormalize = file.Optional("do_normalize", defaults.DoNormalize),
            ImageMean = file.Optional<double[]>("image_mean", [.. defaults.ImageMean]),
            ImageStd = file.Optional<double[]>("image_std", [.. defaults.ImageStd]),
        };
        if (config.ImageMean.Count != 3 || config.ImageStd.Count != 3)
            throw new DreamBoothException($"{file.Path}: 'image_mean' and 'image_std' must have 3 entries (RGB).");
        if (config.ImageStd.Any(s => !(s > 0)))
            throw new DreamBoothException($"{file.Path}: 'image_std' entries must be positive.");
        return config;
    }

    private static ImageSizeSpec ParseSize(ConfigFile file, string key, bool defaultToSquare)
    {
        var node = file.Json[key]!;
        if (node is not JsonObject obj)
        {
            var n = file.Required<int>(key);
            if (n <= 0) throw new DreamBoothException($"{file.Path}: '{key}' must be positive, not {n}.");
            return defaultToSquare ? new ImageSizeSpec(Height: n, Width: n) : new ImageSizeSpec(ShortestEdge: n);
        }
        var sub = new ConfigFile($"{file.Path} ({key})", obj);
        if (sub.Has("shortest_edge")) return new ImageSizeSpec(ShortestEdge: Positive(sub, "shortest_edge"));
        if (sub.Has("height") && sub.Has("width")) return new ImageSizeSpec(Height: Positive(sub, "height"), Width: Positive(sub, "width"));
        throw new DreamBoothException($"{file.Path}: '{key}' must have 'shortest_edge' or 'height' and 'width': {node.ToJsonString()}.");
    }

    private static int Positive(ConfigFile file, string key)
    {
        var n = file.Required<int>(key);
        return n > 0 ? n : throw new DreamBoothException($"{file.Path}: '{key}' must be positive, not {n}.");
    }
}
