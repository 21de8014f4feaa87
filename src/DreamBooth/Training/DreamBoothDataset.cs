// Mirrors diffusers examples/dreambooth/train_dreambooth.py::DreamBoothDataset and collate_fn.
namespace DreamBooth.Training;

using DreamBooth.Imaging;
using static TorchSharp.torch;

/// <summary>A training example: its pixels [3, R, R] in [-1, 1] and the SDXL micro-conditioning facts.</summary>
public sealed record TrainImage(Tensor Pixels, (int Height, int Width) OriginalSize, (int Top, int Left) CropTopLeft);

/// <summary>
/// Instance images (and, with prior preservation, class images), validated up front so a bad file stops training before
/// it starts. Example i pairs instance i mod N with class i mod M; the length is max(N, M) as in diffusers.
/// </summary>
public sealed class DreamBoothDataset
{
    private readonly List<(string Path, RgbImage Image)> instances;
    private readonly List<(string Path, RgbImage Image)> classes;
    private readonly TrainTransforms transforms;

    public DreamBoothDataset(string instanceDir, string? classDir, int resolution, bool centerCrop, bool randomFlip,
                             bool skipBadImages, Action<string>? warn = null)
    {
        var options = new TrainTransformOptions(resolution, centerCrop, randomFlip ? FlipMode.Random : FlipMode.None);
        transforms = new TrainTransforms(options);
        instances = LoadFolder(instanceDir, "instance", resolution, skipBadImages, warn);
        classes = classDir is null ? [] : LoadFolder(classDir, "class", resolution, skipBadImages, warn);
        if (instances.Count == 0) throw new DreamBoothException($"{instanceDir}: no usable instance images (JPEG, PNG, WebP, BMP).");
        if (classDir is not null && classes.Count == 0) throw new DreamBoothException($"{classDir}: no usable class images.");
    }

    public int InstanceCount => instances.Count;

    public int ClassCount => classes.Count;

    public int Count => Math.Max(instances.Count, classes.Count);

    /// <summary>The instance (and class) image of example <paramref name="index"/>; random flip/crop draw from <paramref name="generator"/>.</summary>
    public (TrainImage Instance, TrainImage? Class) Get(int index, Generator? generator)
    {
        var instance = Transform(instances[index % instances.Count].Image, generator);
        var cls = classes.Count == 0 ? null : Transform(classes[index % classes.Count].Image, generator);
        return (instance, cls);
    }

    /// <summary>Which instance and class image example <paramref name="index"/> uses.</summary>
    public (int Instance, int? Class) ImagesOf(int index) =>
        (index % instances.Count, classes.Count == 0 ? null : index % classes.Count);

    /// <summary>One instance (or class) image, transformed.</summary>
    public TrainImage Image(bool isClass, int i, Generator? generator) =>
        Transform((isClass ? classes : instances)[i].Image, generator);

    private TrainImage Transform(RgbImage image, Generator? generator)
    {
        var sample = transforms.Apply(image, generator);
        return new TrainImage(sample.Pixels, sample.OriginalSize, sample.CropTopLeft);
    }

    // Decodes every image now: unreadable files are named before any training step runs.
    private static List<(string, RgbImage)> LoadFolder(string dir, string what, int resolution, bool skipBad, Action<string>? warn)
    {
        if (!Directory.Exists(dir)) throw new DreamBoothException($"{dir}: {what} folder not found.");
        var files = ImageLoader.ListImages(dir, out var skipped);
        foreach (var s in skipped) warn?.Invoke($"{s}: not an image format we read; skipped.");
        var result = new List<(string, RgbImage)>();
        foreach (var file in files)
        {
            try
            {
                result.Add((file, ImageLoader.Load(file)));
            }
            catch (DreamBoothException e) when (skipBad)
            {
                warn?.Invoke(e.Message + " Skipped (--skip-bad-images).");
            }
            catch (DreamBoothException e)
            {
                throw new DreamBoothException($"Bad {what} image — {e.Message} Fix or remove it, or pass --skip-bad-images.");
            }
        }
        return result;
    }
}
