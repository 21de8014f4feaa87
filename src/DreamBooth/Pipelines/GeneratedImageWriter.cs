namespace DreamBooth.Pipelines;

using System.Globalization;
using System.Reflection;
using System.Text.Json.Nodes;
using DreamBooth.Imaging;
using DreamBooth.IO;

/// <summary>
/// The one way generated images are written — by <c>dreambooth generate</c>, training's validation samples and the class
/// images of prior preservation: PNGs carrying A1111's "parameters" infotext, a JSON sidecar beside a PNG (same name,
/// <c>.json</c>) and grids. Every value comes from the batch's <see cref="GenerationParameters"/>, so one request is
/// described the same way wherever it ran. Files are written atomically.
/// </summary>
public sealed class GeneratedImageWriter
{
    /// <summary>"DreamBooth.NET x.y.z", recorded in every infotext and sidecar.</summary>
    public static string Version { get; } = "DreamBooth.NET " + (typeof(GeneratedImageWriter).Assembly
        .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0");

    /// <summary>More infotext "Key: value" pairs, after the generation's own and before "Version"; null values are left out.</summary>
    public IReadOnlyList<KeyValuePair<string, string?>> InfotextExtra { get; init; } = [];

    /// <summary>More sidecar fields, after the generation's own and before "version".</summary>
    public IReadOnlyList<KeyValuePair<string, JsonNode?>> SidecarExtra { get; init; } = [];

    /// <summary>The images of a result as 8-bit RGB, quantised as diffusers' numpy_to_pil.</summary>
    public static IReadOnlyList<RgbImage> ToImages(GenerationResult result)
    {
        var images = new RgbImage[(int)result.Images.shape[0]];
        for (var i = 0; i < images.Length; i++)
        {
            using var pixels = result.Images[i];   // indexing makes a new tensor handle
            images[i] = RgbImage.FromTensor(pixels);
        }
        return images;
    }

    /// <summary>
    /// Writes each image of one batch as a PNG at <c>pathOf(index, image)</c> with its infotext, and with
    /// <paramref name="sidecars"/> its JSON sidecar. Each file is complete before the next begins, so an interrupted run
    /// keeps what it wrote. Returns the PNG paths.
    /// </summary>
    public IReadOnlyList<string> WriteBatch(GenerationParameters parameters, IReadOnlyList<RgbImage> images, Func<int, RgbImage, string> pathOf, bool sidecars)
    {
        var paths = new List<string>(images.Count);
        for (var i = 0; i < images.Count; i++)
        {
            var path = pathOf(i, images[i]);
            Write(path, images[i], parameters, i, sidecars);
            paths.Add(path);
        }
        return paths;
    }

    /// <summary>
    /// Writes <paramref name="images"/> as one grid (<see cref="ImageGrid.Make(IReadOnlyList{RgbImage})"/>: any count)
    /// carrying the infotext of <paramref name="parameters"/> without a batch position, as A1111 labels its grids; with
    /// <paramref name="sidecar"/> also its JSON sidecar. Returns the grid.
    /// </summary>
    public RgbImage WriteGrid(string path, GenerationParameters parameters, IReadOnlyList<RgbImage> images, bool sidecar)
    {
        var grid = ImageGrid.Make(images);
        Write(path, grid, parameters, null, sidecar);
        return grid;
    }

    /// <summary>
    /// A1111's "parameters" text. <paramref name="batchIndex"/> names one image of a batch ("Batch pos", written when the
    /// batch has several); null describes the whole batch.
    /// </summary>
    public string Infotext(GenerationParameters p, int? batchIndex = null)
    {
        var pairs = new List<KeyValuePair<string, string?>>();
        if (batchIndex is int i && p.NumImages > 1) pairs.Add(new("Batch pos", Invariant(i)));
        if (p.ClipSkip is int skip) pairs.Add(new("Clip skip", Invariant(skip + 1)));
        pairs.AddRange(InfotextExtra);
        pairs.Add(new("Version", Version));
        // A1111 writes seeds as signed integers; a seed given as -5 reads back as -5.
        return A1111Infotext.Format(p.Prompt, p.NegativePrompt, p.Steps, p.Sampler, p.GuidanceScale, unchecked((long)p.Seed),
                                    p.Width, p.Height, p.Model, extra: pairs);
    }

    /// <summary>The JSON sidecar: every parameter under diffusers' argument names, plus <see cref="SidecarExtra"/>.</summary>
    public string Sidecar(GenerationParameters p, int? batchIndex = null)
    {
        var json = new JsonObject
        {
            ["prompt"] = p.Prompt,
            ["negative_prompt"] = p.NegativePrompt,
            ["seed"] = p.Seed,
        };
        if (batchIndex is int i) json["batch_index"] = i;
        json["num_images"] = p.NumImages;
        json["steps"] = p.Steps;
        json["guidance_scale"] = p.GuidanceScale;
        json["scheduler"] = p.SchedulerClass;
        json["sampler"] = p.Sampler;
        json["width"] = p.Width;
        json["height"] = p.Height;
        json["clip_skip"] = p.ClipSkip;
        json["model"] = p.Model;
        json["generator"] = "torch.Generator(\"cpu\").manual_seed(seed); latents drawn as one batch";
        // A node belongs to one parent, and the extras go into every sidecar this writer makes.
        foreach (var (key, value) in SidecarExtra) json[key] = value?.DeepClone();
        json["version"] = Version;
        return json.ToJsonString(JsonText.Indented);
    }

    private void Write(string path, RgbImage image, GenerationParameters parameters, int? batchIndex, bool sidecar)
    {
        PngWriter.Write(path, image, [new("parameters", Infotext(parameters, batchIndex))]);
        if (sidecar) AtomicFile.WriteAllText(Path.ChangeExtension(path, ".json"), Sidecar(parameters, batchIndex));
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}
