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

    /// <summary>For single-file checkpoints: a diffusers folder whose config files describe the model (default: SD 1.5).</summary>
    public string? ModelConfigDir { get; init; }

    public TextNormalization Normalization { get; init; } = TextNormalization.Ftfy;
}

/// <summary>Loads a diffusers pipeline folder or an SD 1.x single-file checkpoint into a <see cref="StableDiffusionPipeline"/>.</summary>
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
        var configDir = options.ModelConfigDir ?? Sd15Defaults.Folder();
        using var file = TensorSource.Open(path);
        if (!SingleFileCheckpoint.IsSingleFile(file))
            throw new DreamBoothException($"{path}: not an SD single-file checkpoint (no model.diffusion_model.* tensors). A LoRA file goes to --lora, not --model.");
        if (file.Keys.Any(k => k.StartsWith("conditioner.embedders.", StringComparison.Ordinal)))
            throw new DreamBoothException($"{path}: SDXL single-file checkpoints are not supported yet; use the diffusers folder of the model.");
        var parts = new PipelineParts();
        try
        {
            parts.Tokenizer = CLIPTokenizer.FromFolder(Path.Combine(configDir, "tokenizer"), options.Normalization);
            parts.TextEncoder = SingleFileCheckpoint.LoadTextEncoder(file, CLIPTextConfig.Load(Path.Combine(configDir, "text_encoder", "config.json")), options.Device, options.Dtype);
            parts.Unet = SingleFileCheckpoint.LoadUnet(file, UNet2DConditionConfig.Load(Path.Combine(configDir, "unet", "config.json")), options.Device, options.Dtype);
            parts.Vae = SingleFileCheckpoint.LoadVae(file, AutoencoderKLConfig.Load(Path.Combine(configDir, "vae", "config.json")), options.Device, options.Dtype);
            parts.SchedulerConfig = SchedulerConfig.Load(Path.Combine(configDir, "scheduler", "scheduler_config.json"));
            return new StableDiffusionPipeline(parts, forceZerosForEmptyPrompt: false, Path.GetFileNameWithoutExtension(path), options.Device ?? CPU, configDir);
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

/// <summary>SD 1.5's published configs and tokenizer, embedded, extracted once to a folder for single-file loading.</summary>
public static class Sd15Defaults
{
    private static readonly Lazy<string> Extracted = new(Extract);

    public static string Folder() => Extracted.Value;

    private static string Extract()
    {
        var assembly = typeof(Sd15Defaults).Assembly;
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";
        var root = Path.Combine(Path.GetTempPath(), $"dreambooth-net-sd15-{Environment.UserName}-{version.Split('+')[0]}");
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("sd15/", StringComparison.Ordinal)))
        {
            var target = Path.Combine(root, name["sd15/".Length..]);
            using var stream = assembly.GetManifestResourceStream(name)!;
            if (File.Exists(target) && new FileInfo(target).Length == stream.Length) continue;
            AtomicFile.Write(target, s => stream.CopyTo(s));
        }
        return root;
    }
}
