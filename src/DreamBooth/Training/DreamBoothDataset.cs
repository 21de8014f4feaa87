// Mirrors diffusers examples/dreambooth/train_dreambooth.py::DreamBoothDataset and collate_fn.
namespace DreamBooth.Training;

using DreamBooth.Imaging;
using static TorchSharp.torch;

/// <summary>A training example: its pixels [3, R, R] in [-1, 1] and the SDXL micro-conditioning facts.</summary>
public sealed record TrainImage(Tensor Pixels, (int Height, int Width) OriginalSize, (int Top, int Left) CropTopLeft);

/// <summary>The random choices of one example: its instance image's, then its class image's (drawn in that order).</summary>
public sealed record ExampleChoice(CropChoice Instance, CropChoice? Class);

/// <summary>
/// Instance images (and, with prior preservation, class images), validated up front so a bad file stops training before
/// it starts. Example i pairs instance i mod N with class i mod M; the length is max(N, M) as in diffusers. Files are
/// taken in directory order, as the script's <c>Path.iterdir()</c>, or sorted by name; of the class folder only the
/// first <c>maxClassImages</c> are used, as the script does.
/// </summary>
public sealed class DreamBoothDataset
{
    private readonly List<(string Path, RgbImage Image)> instances;
    private readonly List<(string Path, RgbImage Image)> classes;
    private readonly TrainTransforms transforms;

    public DreamBoothDataset(string instanceDir, string? classDir, int resolution, bool centerCrop, bool randomFlip,
                             bool skipBadImages, Action<string>? warn = null, bool sortFiles = true, int? maxClassImages = null)
    {
        var options = new TrainTransformOptions(resolution, centerCrop, randomFlip ? FlipMode.Random : FlipMode.None);
        transforms = new TrainTransforms(options);
        instances = LoadFolder(instanceDir, "instance", sortFiles, int.MaxValue, skipBadImages, warn);
        classes = classDir is null ? [] : LoadFolder(classDir, "class", sortFiles, maxClassImages ?? int.MaxValue, skipBadImages, warn);
        if (instances.Count == 0) throw new DreamBoothException($"{instanceDir}: no usable instance images (JPEG, PNG, WebP, BMP).");
        if (classDir is not null && classes.Count == 0) throw new DreamBoothException($"{classDir}: no usable class images.");
    }

    public int InstanceCount => instances.Count;

    public int ClassCount => classes.Count;

    public int Count => Math.Max(instances.Count, classes.Count);

    /// <summary>The instance (and class) image of example <paramref name="index"/>; random flip/crop draw from <paramref name="generator"/>.</summary>
    public (TrainImage Instance, TrainImage? Class) Get(int index, Generator? generator) => Render(index, Choose(index, generator));

    /// <summary>Draws the random choices of example <paramref name="index"/> (torch's global generator when null).</summary>
    public ExampleChoice Choose(int index, Generator? generator)
    {
        var instance = transforms.Choose(instances[index % instances.Count].Image, generator);
        var cls = classes.Count == 0 ? null : transforms.Choose(classes[index % classes.Count].Image, generator);
        return new ExampleChoice(instance, cls);
    }

    /// <summary>Example <paramref name="index"/> transformed as <paramref name="choice"/> says.</summary>
    public (TrainImage Instance, TrainImage? Class) Render(int index, ExampleChoice choice)
    {
        var instance = Transform(instances[index % instances.Count].Image, choice.Instance);
        var cls = classes.Count == 0 || choice.Class is null ? null : Transform(classes[index % classes.Count].Image, choice.Class);
        return (instance, cls);
    }

    /// <summary>Which instance and class image example <paramref name="index"/> uses.</summary>
    public (int Instance, int? Class) ImagesOf(int index) =>
        (index % instances.Count, classes.Count == 0 ? null : index % classes.Count);

    /// <summary>One instance (or class) image, transformed.</summary>
    public TrainImage Image(bool isClass, int i, Generator? generator)
    {
        var image = (isClass ? classes : instances)[i].Image;
        return Transform(image, transforms.Choose(image, generator));
    }

    private TrainImage Transform(RgbImage image, CropChoice choice)
    {
        var sample = transforms.Apply(image, choice);
        return new TrainImage(sample.Pixels, sample.OriginalSize, sample.CropTopLeft);
    }

    // Decodes every image now: unreadable files are named before any training step runs.
    private static List<(string, RgbImage)> LoadFolder(string dir, string what, bool sorted, int max, bool skipBad, Action<string>? warn)
    {
        if (!Directory.Exists(dir)) throw new DreamBoothException($"{dir}: {what} folder not found.");
        var files = ImageLoader.ListImages(dir, out var skipped, sorted).Take(max);
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
