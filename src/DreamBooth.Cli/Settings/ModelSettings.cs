namespace DreamBooth.Cli.Settings;

using System.ComponentModel;
using DreamBooth.Models.Clip;
using DreamBooth.Pipelines;
using DreamBooth.Torch;
using Spectre.Console;
using Spectre.Console.Cli;

/// <summary>Options of commands that load a pipeline.</summary>
public class ModelSettings : CommonSettings
{
    [CommandOption("-m|--model <MODEL>")]
    [Description("A diffusers folder, an SD 1.x or SDXL single-file .safetensors, or a hub repo id org/name[[@revision]] (default: the tiny model in the repository).")]
    public string? Model { get; init; }

    [CommandOption("--model-config <DIR>")]
    [Description("For a single-file checkpoint: a diffusers folder whose config files describe it (default: SD 1.5's, or SDXL base 1.0's).")]
    public string? ModelConfig { get; init; }

    [CommandOption("--variant <NAME>")]
    [Description("Weight variant to prefer, e.g. fp16 (diffusion_pytorch_model.fp16.safetensors).")]
    public string? Variant { get; init; }

    [CommandOption("--dtype <DTYPE>")]
    [Description("fp32, fp16 or bf16 (default fp32; on CPUs without native half math use fp32).")]
    public string? Dtype { get; init; }

    [CommandOption("--no-ftfy")]
    [Description("Normalise prompts as transformers does without ftfy installed (default: with ftfy, as diffusers users get).")]
    public bool NoFtfy { get; init; }

    /// <summary>The model tests and the README use when --model is left out.</summary>
    public static string DefaultModel => Path.Combine(FindRepoRoot() ?? ".", "tests", "fixtures", "sd15-tiny");

    internal StableDiffusionPipeline LoadPipeline(IAnsiConsole console, CancellationToken cancellationToken)
    {
        TorchRuntime.SetThreads(Threads);
        var device = TorchRuntime.ResolveDevice(Device);
        var dtype = TorchRuntime.ParseDtype(Dtype);
        var path = ModelLocator.Resolve(Model ?? DefaultModel, console, quiet: false, cancellationToken, Variant);
        return PipelineLoader.Load(path, new PipelineLoadOptions
        {
            Device = device,
            Dtype = dtype,
            Variant = Variant,
            ModelConfigDir = ModelConfig,
            Normalization = NoFtfy ? TextNormalization.Plain : TextNormalization.Ftfy,
        });
    }

    private static string? FindRepoRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "DreamBooth.slnx"))) return dir.FullName;
        return null;
    }
}
