namespace DreamBooth.Cli.Settings;

using System.Globalization;
using DreamBooth.Lora;
using DreamBooth.Pipelines;
using TorchSharp;

/// <summary>--lora FILE[:SCALE] options: each file becomes its own named adapter, so several subjects compose.</summary>
internal static class LoraOptions
{
    public sealed record Applied(string File, string Name, double Scale, int Modules);

    public static IReadOnlyList<Applied> Apply(StableDiffusionPipeline pipe, IEnumerable<string> specs)
    {
        var applied = new List<Applied>();
        foreach (var spec in specs)
        {
            var (file, scale) = Parse(spec);
            var name = $"lora{applied.Count}";
            var targets = new LoraTargets(pipe.Unet, pipe.TextEncoder as torch.nn.Module, pipe.TextEncoder2 as torch.nn.Module);
            var mapped = LoraLoader.Apply(targets, file, scale, name);
            applied.Add(new Applied(file, Path.GetFileNameWithoutExtension(file), scale, mapped.Count));
        }
        return applied;
    }

    internal static (string File, double Scale) Parse(string spec)
    {
        // A scale suffix is the text after the last ':' when it parses as a number (paths may contain ':').
        var colon = spec.LastIndexOf(':');
        if (colon > 0 && double.TryParse(spec[(colon + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var scale))
            return (spec[..colon], scale);
        if (!File.Exists(spec)) throw new DreamBoothException($"--lora {spec}: file not found.");
        return (spec, 1.0);
    }
}
