namespace DreamBooth.Pipelines;

using System.Reflection;
using DreamBooth.IO;
using DreamBooth.Loaders;
using DreamBooth.Loading;
using DreamBooth.Models.Autoencoders;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unets;
using DreamBooth.Schedulers;
using static TorchSharp.torch;

/// <summary>How to load a pipeline.</summary>
public sealed record PipelineLoadOptions
{
    public Device? Device { get; init; }

    public ScalarType Dtype { get; init; } = ScalarType.Float32;

    /// <summary>Weight variant to prefer, e.g. "fp16" (diffusion_pytorch_model.fp16.safetensors).</summary>
    public string? Variant { get; init; }

    /// <summary>For single-file checkpoints: a diffusers folder whose config files describe the model (default: SD 1.5's,
    /// or SDXL base 1.0's for an SDXL file).</summary>
    public string? ModelConfigDir { get; init; }

    public TextNormalization Normalization { get; init; } = TextNormalization.Ftfy;
}

/// <summary>Loads a diffusers pipeline folder or an SD 1.x / SDXL single-file checkpoint into a <see cref="StableDiffusionPipeline"/>.</summary>
public static class PipelineLoader
{
    public static StableDiffusionPipeline Load(string model, PipelineLoadOptions? options = null)
    {
        options ??= new PipelineLoadOptions();
        Torch.TorchRuntime.EnsureLoaded();
        if (File.Exists(model)) return LoadSingleFile(model, options);
        var index = ModelIndex.Load(model);
        string Dir(string name) => Path.Combine(model, name);
        bool xl = index.Components.ContainsKey("text_encoder_2");
        var parts = new PipelineParts();
        try
        {
            parts.Tokenizer = CLIPTokenizer.FromFolder(Dir("tokenizer"), options.Normalization);
            parts.TextEncoder = CLIPTextEncoder.FromPretrained(Dir("text_encoder"), options.Device, options.Dtype, options.Variant);
            if (xl)
            {
                parts.Tokenizer2 = CLIPTokenizer.FromFolder(Dir("tokenizer_2"), options.Normalization);
                parts.TextEncoder2 = CLIPTextEncoder.FromPretrained(Dir("text_encoder_2"), options.Device, options.Dtype, options.Variant);
            }
            parts.Unet = UNet2DConditionModel.FromPretrained(Dir("unet"), options.Device, options.Dtype, options.Variant);
            parts.Vae = AutoencoderKL.FromPretrained(Dir("vae"), options.Device, options.Dtype, options.Variant);
            parts.SchedulerConfig = SchedulerConfig.Load(Path.Combine(Dir("scheduler"), "scheduler_config.json"));
            return new StableDiffusionPipeline(parts, index.ForceZerosForEmptyPrompt, Path.GetFileName(Path.TrimEndingDirectorySeparator(model)), options.Device ?? CPU, model);
        }
        catch
        {
            parts.Dispose();
            throw;
        }
    }

    private static StableDiffusionPipeline LoadSingleFile(string path, PipelineLoadOptions options)
    {
        if (!path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            throw new DreamBoothException($"{path}: only .safetensors single-file checkpoints are accepted; pickled .ckpt/.bin files can run arbitrary code when loaded. Convert it once with Python's safetensors package.");
        using var file = TensorSource.Open(path);
        if (!SingleFileCheckpoint.IsSingleFile(file))
            throw new DreamBoothException($"{path}: not an SD single-file checkpoint (no model.diffusion_model.* tensors). A LoRA file goes to --lora, not --model.");
        bool xl = SingleFileCheckpoint.IsSdxl(file);
        if (xl && !file.Keys.Any(k => k.StartsWith(LdmKeyMap.SdxlTextEncoder2Prefix, StringComparison.Ordinal)))
            throw new DreamBoothException($"{path}: an SDXL single file without the OpenCLIP text encoder ({LdmKeyMap.SdxlTextEncoder2Prefix}*), e.g. the SDXL refiner; only SDXL base-style checkpoints are supported.");
        var configDir = options.ModelConfigDir ?? (xl ? ModelDefaults.SdxlFolder() : ModelDefaults.Sd15Folder());
        if (xl != Directory.Exists(Path.Combine(configDir, "text_encoder_2")))
            throw new DreamBoothException(
                $"{path} is an {(xl ? "SDXL" : "SD 1.x/2.x")} checkpoint but the config folder {configDir} describes " +
                $"{(xl ? "a model without" : "one with")} a second text encoder; give the matching --model-config folder.");
        var parts = new PipelineParts();
        try
        {
            string Config(string component) => Path.Combine(configDir, component, "config.json");
            parts.Tokenizer = CLIPTokenizer.FromFolder(Path.Combine(configDir, "tokenizer"), options.Normalization);
            parts.TextEncoder = SingleFileCheckpoint.LoadTextEncoder(file, CLIPTextConfig.Load(Config("text_encoder")), options.Device, options.Dtype);
            if (xl)
            {
                parts.Tokenizer2 = CLIPTokenizer.FromFolder(Path.Combine(configDir, "tokenizer_2"), options.Normalization);
                parts.TextEncoder2 = SingleFileCheckpoint.LoadTextEncoder2(file, CLIPTextConfig.Load(Config("text_encoder_2")), options.Device, options.Dtype);
            }
            parts.Unet = SingleFileCheckpoint.LoadUnet(file, UNet2DConditionConfig.Load(Config("unet")), options.Device, options.Dtype);
            parts.Vae = SingleFileCheckpoint.LoadVae(file, AutoencoderKLConfig.Load(Config("vae")), options.Device, options.Dtype);
            parts.SchedulerConfig = SchedulerConfig.Load(Path.Combine(configDir, "scheduler", "scheduler_config.json"));
            // As diffusers' from_single_file: the pipeline options come from the config repo (SDXL base: zeros for a
            // missing negative prompt).
            bool forceZeros = File.Exists(Path.Combine(configDir, "model_index.json")) ? ModelIndex.Load(configDir).ForceZerosForEmptyPrompt : xl;
            return new StableDiffusionPipeline(parts, forceZeros, Path.GetFileNameWithoutExtension(path), options.Device ?? CPU, configDir);
        }
        catch
        {
            parts.Dispose();
            throw;
        }
    }
}

/// <summary>The loaded components, owned by the pipeline once built.</summary>
internal sealed class PipelineParts : IDisposable
{
    public CLIPTokenizer? Tokenizer;
    public CLIPTextEncoderBase? TextEncoder;
    public CLIPTokenizer? Tokenizer2;
    public CLIPTextEncoderBase? TextEncoder2;
    public UNet2DConditionModel? Unet;
    public AutoencoderKL? Vae;
    public SchedulerConfig? SchedulerConfig;

    public void Dispose()
    {
        TextEncoder?.Dispose();
        TextEncoder2?.Dispose();
        Unet?.Dispose();
        Vae?.Dispose();
    }
}

/// <summary>
/// Published configs and tokenizers of SD 1.5 and SDXL base 1.0, embedded and extracted once to a folder each, for
/// single-file checkpoints loaded without --model-config (what diffusers' from_single_file fetches from the hub).
/// </summary>
public static class ModelDefaults
{
    private static readonly Lazy<string> Sd15 = new(() => Extract("sd15", []));

    // SDXL's two tokenizers use SD 1.5's CLIP vocabulary and merges (stored once); tokenizer/ is SD 1.5's entirely.
    private static readonly Lazy<string> Sdxl = new(() => Extract("sdxl",
    [
        ("tokenizer/vocab.json", "sd15/tokenizer/vocab.json"), ("tokenizer/merges.txt", "sd15/tokenizer/merges.txt"),
        ("tokenizer/tokenizer_config.json", "sd15/tokenizer/tokenizer_config.json"),
        ("tokenizer/special_tokens_map.json", "sd15/tokenizer/special_tokens_map.json"),
        ("tokenizer_2/vocab.json", "sd15/tokenizer/vocab.json"), ("tokenizer_2/merges.txt", "sd15/tokenizer/merges.txt"),
    ]));

    public static string Sd15Folder() => Sd15.Value;

    public static string SdxlFolder() => Sdxl.Value;

    private static string Extract(string model, (string Target, string Resource)[] shared)
    {
        var assembly = typeof(ModelDefaults).Assembly;
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
        var root = Path.Combine(Path.GetTempPath(), $"dreambooth-net-{model}-{Environment.UserName}-{version.Split('+')[0]}");
        var files = assembly.GetManifestResourceNames().Where(n => n.StartsWith(model + "/", StringComparison.Ordinal))
            .Select(n => (Target: n[(model.Length + 1)..], Resource: n)).Concat(shared);
        foreach (var (target, resource) in files)
        {
            var targetPath = Path.Combine(root, target);
            using var stream = assembly.GetManifestResourceStream(resource)
                ?? throw new InvalidOperationException($"Embedded resource {resource} is missing.");
            if (File.Exists(targetPath) && new FileInfo(targetPath).Length == stream.Length) continue;
            AtomicFile.Write(targetPath, s => stream.CopyTo(s));
        }
        return root;
    }
}
