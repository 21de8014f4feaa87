// Mirrors the file selection of diffusers v0.27.2 DiffusionPipeline.download (pipeline_utils.py) and
// pipeline_loading_utils.py::variant_compatible_siblings, restricted to safetensors.
namespace DreamBooth.Hub;

using System.Text.Json.Nodes;
using DreamBooth.Loading;

/// <summary>Which files of a pipeline repo to fetch.</summary>
public sealed record PipelineFileOptions
{
    /// <summary>Components a text-to-image / DreamBooth run never loads: not downloaded unless named in <see cref="Components"/>.</summary>
    public static readonly IReadOnlyList<string> DefaultSkip = ["safety_checker", "feature_extractor", "image_encoder"];

    /// <summary>Weight variant such as "fp16": its files are preferred, the plain ones used where a component has none.</summary>
    public string? Variant { get; init; }

    /// <summary>Only these components (null: every component in model_index.json except <see cref="Skip"/>).</summary>
    public IReadOnlyCollection<string>? Components { get; init; }

    public IReadOnlyCollection<string> Skip { get; init; } = DefaultSkip;
}

/// <summary>Picks the files a pipeline needs from a repo listing: configs, tokenizer files and safetensors weights only.</summary>
public static class PipelineFiles
{
    public const string ModelIndexName = "model_index.json";

    /// <summary>Small per-component files: model/scheduler/processor configs and the CLIP BPE tokenizer files.</summary>
    public static readonly IReadOnlyList<string> ConfigNames =
    [
        "config.json", "scheduler_config.json", "preprocessor_config.json",
        "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "added_tokens.json",
    ];

    private static readonly string[] PickleExtensions = [".bin", ".ckpt", ".pt", ".pth", ".pkl"];

    /// <summary>
    /// The files to fetch for <paramref name="index"/>'s components (model_index.json first). Sharded weights appear
    /// as their index file; <see cref="Shards"/> gives the shards once that file is local.
    /// </summary>
    /// <param name="repo">Repo label for messages, e.g. "org/name@main".</param>
    /// <param name="repoFiles">Every file of the repo (or of the cached snapshot when offline), '/'-separated.</param>
    public static IReadOnlyList<string> Select(string repo, IReadOnlyCollection<string> repoFiles, ModelIndex index, PipelineFileOptions options)
    {
        var files = repoFiles as ISet<string> ?? new HashSet<string>(repoFiles, StringComparer.Ordinal);
        var selected = new List<string> { ModelIndexName };
        foreach (var (component, (library, className)) in ChooseComponents(repo, index, options))
        {
            var folder = component + "/";
            var inFolder = files.Where(f => f.StartsWith(folder, StringComparison.Ordinal) && f.IndexOf('/', folder.Length) < 0)
                .Select(f => f[folder.Length..]).ToHashSet(StringComparer.Ordinal);
            if (inFolder.Count == 0)
                throw new HubException(HubErrorKind.Unsupported, $"{repo}: model_index.json lists component '{component}' but there is no '{component}/' folder.");

            var configs = ConfigNames.Where(inFolder.Contains).ToList();
            // A fast-only tokenizer (tokenizer.json without vocab.json/merges.txt) still needs its one file.
            if (!inFolder.Contains("vocab.json") && inFolder.Contains("tokenizer.json") && IsTokenizer(className)) configs.Add("tokenizer.json");
            if (configs.Count == 0)
                throw new HubException(HubErrorKind.Unsupported, $"{repo}: component '{component}' has no config file ({string.Join(", ", ConfigNames.Take(3))}).");
            selected.AddRange(configs.Select(c => folder + c));

            if (inFolder.Contains("config.json") && !IsWeightless(className))
                selected.Add(folder + ChooseWeights(repo, component, library, inFolder, options.Variant));
        }
        return selected;
    }

    /// <summary>Repo paths of the shards listed in a downloaded <c>*.safetensors.index*.json</c> (in weight_map order, distinct).</summary>
    public static IReadOnlyList<string> Shards(string repo, string indexRepoPath, string indexLocalPath)
    {
        var config = ConfigFile.Load(indexLocalPath);
        if (config.Json["weight_map"] is not JsonObject map)
            throw new HubException(HubErrorKind.Unsupported, $"{repo}: {indexRepoPath} has no 'weight_map'.");
        var folder = indexRepoPath[..(indexRepoPath.LastIndexOf('/') + 1)];
        var shards = new List<string>();
        foreach (var (_, value) in map)
        {
            var name = value is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
            if (name is null || name.Length == 0 || name.Contains('/') || name.Contains('\\') || name.StartsWith('.'))
                throw new HubException(HubErrorKind.Unsupported, $"{repo}: {indexRepoPath} lists an invalid shard name '{name}'.");
            if (!name.EndsWith(".safetensors", StringComparison.Ordinal))
                throw new HubException(HubErrorKind.Unsupported, $"{repo}: {indexRepoPath} lists '{name}', which is not a .safetensors file; pickles are refused.");
            var path = folder + name;
            if (!shards.Contains(path)) shards.Add(path);
        }
        return shards;
    }

    private static IEnumerable<KeyValuePair<string, (string Library, string Class)>> ChooseComponents(string repo, ModelIndex index, PipelineFileOptions options)
    {
        if (options.Components is null)
            return index.Components.Where(c => !options.Skip.Contains(c.Key)).OrderBy(c => c.Key, StringComparer.Ordinal);
        foreach (var name in options.Components)
            if (!index.Components.ContainsKey(name))
                throw new HubException(HubErrorKind.Unsupported, $"{repo}: model_index.json has no component '{name}' (it has {string.Join(", ", index.Components.Keys.Order())}).");
        return index.Components.Where(c => options.Components.Contains(c.Key)).OrderBy(c => c.Key, StringComparer.Ordinal);
    }

    private static string ChooseWeights(string repo, string component, string library, HashSet<string> inFolder, string? variant)
    {
        // diffusers models are diffusion_pytorch_model.*, transformers models model.*; try the library's own name first.
        string[] bases = library == "transformers" ? ["model", "diffusion_pytorch_model"] : ["diffusion_pytorch_model", "model"];
        var candidates = new List<string>();
        if (variant is not null)
            foreach (var b in bases)
            {
                candidates.Add($"{b}.{variant}.safetensors");
                candidates.Add($"{b}.safetensors.index.{variant}.json"); // diffusers/transformers naming of a variant index
                candidates.Add($"{b}.{variant}.safetensors.index.json");
            }
        foreach (var b in bases)
        {
            candidates.Add($"{b}.safetensors");
            candidates.Add($"{b}.safetensors.index.json");
        }
        var found = candidates.FirstOrDefault(inFolder.Contains);
        if (found is not null) return found;

        var pickles = inFolder.Where(f => PickleExtensions.Any(e => f.EndsWith(e, StringComparison.OrdinalIgnoreCase))).Order(StringComparer.Ordinal).ToList();
        if (pickles.Count > 0)
            throw new HubException(HubErrorKind.Unsupported,
                $"{repo}: component '{component}' only has pickled weights ({string.Join(", ", pickles.Select(p => component + "/" + p))}). " +
                "Pickle files can run arbitrary code when loaded, so they are refused; use a revision with .safetensors weights " +
                "(the Hub's safetensors conversion bot often offers one as refs/pr/N) or convert them once with diffusers' save_pretrained(safe_serialization=True).");
        var others = inFolder.Where(f => !ConfigNames.Contains(f)).Order(StringComparer.Ordinal).ToList();
        throw new HubException(HubErrorKind.Unsupported,
            $"{repo}: component '{component}' has no .safetensors weights" + (others.Count > 0 ? $" (found {string.Join(", ", others)})." : "."));
    }

    private static bool IsTokenizer(string className) => className.Contains("Tokenizer", StringComparison.Ordinal);

    // Components whose config.json (if any) describes no weights.
    private static bool IsWeightless(string className) =>
        IsTokenizer(className) || className.EndsWith("Scheduler", StringComparison.Ordinal) ||
        className.EndsWith("Processor", StringComparison.Ordinal) || className.EndsWith("FeatureExtractor", StringComparison.Ordinal);
}
