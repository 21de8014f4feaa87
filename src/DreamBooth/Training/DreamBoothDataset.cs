// Mirrors diffusers examples/dreambooth/train_dreambooth.py::DreamBoothDataset and collate_fn.
namespace DreamBooth.Training;

using DreamBooth.Data;
using DreamBooth.Imaging;
using static TorchSharp.torch;

/// <summary>
/// A training example: its pixels [3, H, W] in [-1, 1], its prompt and the SDXL micro-conditioning facts (the target
/// size is the crop's: the square resolution, or the bucket).
/// </summary>
public sealed record TrainImage(Tensor Pixels, (int Height, int Width) OriginalSize, (int Top, int Left) CropTopLeft, string Prompt,
                                (int Height, int Width) TargetSize);

/// <summary>The random choices of one example: its instance image's, then its class image's (drawn in that order).</summary>
public sealed record ExampleChoice(CropChoice Instance, CropChoice? Class);

/// <summary>How a <see cref="DreamBoothDataset"/> reads and transforms its images.</summary>
/// <param name="SortFiles">Files sorted by name rather than in directory order (the script's <c>Path.iterdir()</c>).</param>
/// <param name="MaxClassImages">Class images used per concept: the first ones of its folder, as the script does.</param>
/// <param name="CaptionExtension">The ending of an instance image's caption file (see <see cref="ImageCaptions"/>).</param>
/// <param name="Buckets">Aspect-ratio buckets (kohya's --enable_bucket); null: square crops at the resolution.</param>
public sealed record DatasetOptions(int Resolution, bool CenterCrop = false, bool RandomFlip = false, bool SkipBadImages = false,
                                    bool SortFiles = true, int? MaxClassImages = null, string CaptionExtension = ".txt",
                                    AspectBucketOptions? Buckets = null);

/// <summary>
/// Instance images (and, with prior preservation, class images), validated up front so a bad file stops training before
/// it starts. Each carries its prompt: an instance image its caption (<see cref="ImageCaptions"/>, placeholders filled)
/// or else its concept's instance prompt, a class image its concept's class prompt. With several concepts the instance
/// images of all of them form one list, concept by concept, and so do the class images, as the DreamBooth forks'
/// concepts lists do. Example i pairs instance i mod N with class i mod M; the length is max(N, M) as in diffusers.
/// With aspect buckets an example trains in its instance image's bucket, and its class image is cropped to the same
/// bucket so both share one batch tensor.
/// </summary>
public sealed class DreamBoothDataset
{
    private readonly List<(string Path, RgbImage Image, string Prompt)> instances = [];
    private readonly List<(string Path, RgbImage Image, string Prompt)> classes = [];
    private readonly TrainTransforms transforms;

    /// <param name="concepts">The subjects; class images are read for those with a class folder.</param>
    public DreamBoothDataset(IReadOnlyList<Concept> concepts, DatasetOptions options, Action<string>? warn = null)
    {
        transforms = new TrainTransforms(new TrainTransformOptions(options.Resolution, options.CenterCrop, options.RandomFlip ? FlipMode.Random : FlipMode.None,
                                                                   options.Buckets is { } b ? new AspectBuckets(b) : null));
        foreach (var concept in concepts)
        {
            var captions = ImageCaptions.Read(concept.InstanceDataDir, options.CaptionExtension);
            var found = LoadFolder(concept.InstanceDataDir, "instance", options.SortFiles, int.MaxValue, options.SkipBadImages, warn, captions);
            if (found.Count == 0) throw new DreamBoothException($"{concept.InstanceDataDir}: no usable instance images (JPEG, PNG, WebP, BMP).");
            foreach (var (path, image) in found)
            {
                var caption = captions.Of(path);
                if (caption is not null) Captioned++;
                instances.Add((path, image, caption is null ? concept.InstancePrompt : ImageCaptions.Fill(caption, concept.Identifier, concept.ClassNoun)));
            }
            if (concept.ClassDataDir is not { } classDir) continue;
            var classImages = LoadFolder(classDir, "class", options.SortFiles, options.MaxClassImages ?? int.MaxValue, options.SkipBadImages, warn, null);
            if (classImages.Count == 0) throw new DreamBoothException($"{classDir}: no usable class images.");
            classes.AddRange(classImages.Select(c => (c.Path, c.Image, concept.ClassPrompt!)));
        }
    }

    /// <summary>Instance images whose prompt is their own caption.</summary>
    public int Captioned { get; }

    /// <summary>Every prompt an example can have: instance captions and prompts, then class prompts, each once.</summary>
    public IReadOnlyList<string> Prompts => instances.Concat(classes).Select(i => i.Prompt).Distinct().ToList();

    /// <summary>The prompt of instance image <paramref name="i"/>.</summary>
    public string InstancePrompt(int i) => instances[i].Prompt;

    public int InstanceCount => instances.Count;

    public int ClassCount => classes.Count;

    public int Count => Math.Max(instances.Count, classes.Count);

    /// <summary>The instance (and class) image of example <paramref name="index"/>; random flip/crop draw from <paramref name="generator"/>.</summary>
    public (TrainImage Instance, TrainImage? Class) Get(int index, Generator? generator) => Render(index, Choose(index, generator));

    /// <summary>Draws the random choices of example <paramref name="index"/> (torch's global generator when null).</summary>
    public ExampleChoice Choose(int index, Generator? generator)
    {
        var instance = transforms.Choose(instances[index % instances.Count].Image, generator);
        var cls = classes.Count == 0 ? null : transforms.Choose(classes[index % classes.Count].Image, generator, BucketOf(index));
        return new ExampleChoice(instance, cls);
    }

    /// <summary>The (width, height) bucket example <paramref name="index"/> trains in; null without buckets.</summary>
    public (int Width, int Height)? BucketOf(int index) => transforms.BucketOf(instances[index % instances.Count].Image);

    /// <summary>Example <paramref name="index"/> transformed as <paramref name="choice"/> says.</summary>
    public (TrainImage Instance, TrainImage? Class) Render(int index, ExampleChoice choice)
    {
        var instance = Transform(instances[index % instances.Count], choice.Instance);
        var cls = classes.Count == 0 || choice.Class is null ? null : Transform(classes[index % classes.Count], choice.Class);
        return (instance, cls);
    }

    /// <summary>Which instance and class image example <paramref name="index"/> uses.</summary>
    public (int Instance, int? Class) ImagesOf(int index) =>
        (index % instances.Count, classes.Count == 0 ? null : index % classes.Count);

    /// <summary>One instance (or class) image, transformed (with buckets: into <paramref name="bucket"/>, else its own).</summary>
    public TrainImage Image(bool isClass, int i, Generator? generator, (int Width, int Height)? bucket = null)
    {
        var item = (isClass ? classes : instances)[i];
        return Transform(item, transforms.Choose(item.Image, generator, bucket));
    }

    private TrainImage Transform((string Path, RgbImage Image, string Prompt) item, CropChoice choice)
    {
        var sample = transforms.Apply(item.Image, choice);
        return new TrainImage(sample.Pixels, sample.OriginalSize, sample.CropTopLeft, item.Prompt,
                              ((int)sample.Pixels.shape[1], (int)sample.Pixels.shape[2]));
    }

    // Decodes every image now: unreadable files are named before any training step runs. The caption files are
    // the images' own: no "not an image" notice for them.
    private static List<(string Path, RgbImage Image)> LoadFolder(string dir, string what, bool sorted, int max, bool skipBad, Action<string>? warn,
                                                                  ImageCaptions? captions)
    {
        if (!Directory.Exists(dir)) throw new DreamBoothException($"{dir}: {what} folder not found.");
        var all = ImageLoader.ListImages(dir, out var skipped, sorted);
        var own = captions?.FilesOf(all) ?? new HashSet<string>();
        foreach (var s in skipped.Where(s => !own.Contains(s)))
            warn?.Invoke($"{s}: not an image format we read; skipped.");
        var files = all.Take(max);
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
