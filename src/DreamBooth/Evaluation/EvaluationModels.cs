// The feature extractors of the DreamBooth paper's metrics: CLIP ViT-B/32 (CLIP-I, CLIP-T) and DINO ViT-S/16 (DINO, PRES, DIV).
namespace DreamBooth.Evaluation;

using DreamBooth.Hub;
using DreamBooth.Imaging;
using DreamBooth.Models;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Vit;
using DreamBooth.Torch;
using static TorchSharp.torch;

/// <summary>
/// A CLIPModel with its tokenizer and image processor, and a DINO ViTModel with its image processor, loaded from
/// transformers folders (e.g. openai/clip-vit-base-patch32 and facebook/dino-vits16). DINO is optional (<see cref="None"/>):
/// without it there is no DINO score, and PRES and DIV are computed on CLIP image features instead. Embeddings come
/// back as float arrays, not normalised.
/// </summary>
public sealed class EvaluationModels : IDisposable
{
    private const int BatchSize = 16;

    /// <summary>The DINO model name that means "no DINO" (a world with no DINO of its own, such as the toy world).</summary>
    public const string None = "none";

    private EvaluationModels(CLIPModel clip, CLIPTokenizer tokenizer, CLIPImageProcessor clipProcessor, ViTModel? dino, ViTImageProcessor? dinoProcessor)
    {
        Clip = clip;
        Tokenizer = tokenizer;
        ClipProcessor = clipProcessor;
        Dino = dino;
        DinoProcessor = dinoProcessor;
    }

    public CLIPModel Clip { get; }

    public CLIPTokenizer Tokenizer { get; }

    public CLIPImageProcessor ClipProcessor { get; }

    public ViTModel? Dino { get; }

    public ViTImageProcessor? DinoProcessor { get; }

    /// <summary>
    /// Loads both models (float32) from local folders: each holds config.json, model.safetensors, preprocessor_config.json;
    /// CLIP's also its tokenizer. A null <paramref name="dinoFolder"/>: CLIP only.
    /// </summary>
    public static EvaluationModels Load(string clipFolder, string? dinoFolder, Device? device = null)
    {
        TorchRuntime.EnsureLoaded();
        var tokenizer = CLIPTokenizer.FromFolder(clipFolder);
        var clip = CLIPModel.FromPretrained(clipFolder, device);
        try
        {
            var dino = dinoFolder is null ? null : ViTModel.FromPretrained(dinoFolder, device);
            return new EvaluationModels(clip, tokenizer, CLIPImageProcessor.FromPretrained(clipFolder), dino,
                                        dinoFolder is null ? null : ViTImageProcessor.FromPretrained(dinoFolder));
        }
        catch
        {
            clip.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The local folder of an evaluation model: a folder as is, a hub repo id by downloading the files
    /// <see cref="Load"/> reads (CLIP's with its tokenizer).
    /// </summary>
    public static string Locate(string model, bool withTokenizer, CancellationToken cancel = default)
    {
        var reference = ModelRef.Parse(model);
        if (reference.Kind != ModelRefKind.HubRepo)
            return Directory.Exists(reference.LocalPath) ? reference.LocalPath! : throw new DreamBoothException($"{model}: no such model folder.");
        string[] files = withTokenizer
            ? ["config.json", "preprocessor_config.json", "model.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"]
            : ["config.json", "preprocessor_config.json", "model.safetensors"];
        using var hub = new HubClient(HubOptions.FromEnvironment());
        string? folder = null;
        foreach (var file in files)
            folder = Path.GetDirectoryName(hub.DownloadFileAsync(reference.RepoId!, file, reference.Revision, null, cancel).GetAwaiter().GetResult());
        return folder!;
    }

    /// <summary>The DINO model's folder as <see cref="Locate"/> finds it, or null for <see cref="None"/>.</summary>
    public static string? LocateDino(string model, CancellationToken cancel = default) =>
        model == None ? null : Locate(model, withTokenizer: false, cancel);

    /// <summary>CLIP image embeddings (get_image_features), one per image.</summary>
    public IReadOnlyList<float[]> ClipImageEmbeddings(IReadOnlyList<RgbImage> images) =>
        Embed(images, ClipProcessor, Clip.GetImageFeatures);

    /// <summary>DINO CLS embeddings (last_hidden_state[:, 0]), one per image.</summary>
    public IReadOnlyList<float[]> DinoEmbeddings(IReadOnlyList<RgbImage> images) =>
        Dino is null ? throw new InvalidOperationException("No DINO model was loaded.") : Embed(images, DinoProcessor!, Dino.GetClsEmbedding);

    /// <summary>The features PRES and DIV are computed on: DINO's, or CLIP's image features without DINO.</summary>
    public IReadOnlyList<float[]> PresenceEmbeddings(IReadOnlyList<RgbImage> images) =>
        Dino is null ? ClipImageEmbeddings(images) : DinoEmbeddings(images);

    /// <summary>CLIP text embeddings (get_text_features) of prompts padded and truncated to the tokenizer's 77 tokens.</summary>
    public IReadOnlyList<float[]> ClipTextEmbeddings(IReadOnlyList<string> prompts)
    {
        var result = new List<float[]>(prompts.Count);
        foreach (var chunk in prompts.Chunk(BatchSize))
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var (ids, _) = Tokenizer.EncodeBatch(chunk);
            result.AddRange(Rows(Clip.GetTextFeatures(ids)));
        }
        return result;
    }

    private static List<float[]> Embed(IReadOnlyList<RgbImage> images, BaseImageProcessor processor, Func<Tensor, Tensor> model)
    {
        var result = new List<float[]>(images.Count);
        foreach (var chunk in images.Chunk(BatchSize))
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            result.AddRange(Rows(model(processor.Preprocess(chunk))));
        }
        return result;
    }

    private static IEnumerable<float[]> Rows(Tensor features)
    {
        var cpu = features.to(ScalarType.Float32, CPU).contiguous();
        long dim = cpu.shape[1];
        var data = cpu.data<float>().ToArray();
        for (long r = 0; r < cpu.shape[0]; r++) yield return data.AsSpan((int)(r * dim), (int)dim).ToArray();
    }

    public void Dispose()
    {
        Clip.Dispose();
        Dino?.Dispose();
    }
}
