namespace DreamBooth.Cli.Settings;

using System.Globalization;
using DreamBooth.Lora;
using DreamBooth.Pipelines;

/// <summary>--lora FILE[:SCALE] options: each file becomes its own named adapter, so several subjects compose.</summary>
internal static class LoraOptions
{
    public sealed record Applied(string File, string Name, double Scale, int Modules);

    /// <summary>Applies specs already checked by <see cref="Parse"/> (done before the model loads, to fail fast).</summary>
    public static IReadOnlyList<Applied> Apply(StableDiffusionPipeline pipe, IEnumerable<(string File, double Scale)> specs)
    {
        var applied = new List<Applied>();
        foreach (var (file, scale) in specs)
        {
            var name = $"lora{applied.Count}";
            var targets = new LoraTargets(pipe.Unet, pipe.TextEncoder, pipe.TextEncoder2);
            var mapped = LoraLoader.Apply(targets, file, scale, name);
            applied.Add(new Applied(file, Path.GetFileNameWithoutExtension(file), scale, mapped.Count));
        }
        return applied;
    }

    internal static (string File, double Scale) Parse(string spec)
    {
        // A scale suffix is the text after the last ':' when it parses as a number (paths may contain ':').
        var (file, scale) = (spec, 1.0);
        var colon = spec.LastIndexOf(':');
        if (colon > 0 && !Path.Exists(spec) && spec.IndexOfAny(['/', '\\'], colon) < 0)
        {
            var suffix = spec[(colon + 1)..];
            if (!double.TryParse(suffix, NumberStyles.Float, CultureInfo.InvariantCulture, out scale) || !double.IsFinite(scale))
                throw new DreamBoothException($"--lora {spec}: the scale '{suffix}' is not a number (use FILE or FILE:SCALE, e.g. sks.safetensors:0.8).");
            file = spec[..colon];
        }
        if (Directory.Exists(file))
        {
            // As diffusers' load_lora_weights(folder): the training output folder holds pytorch_lora_weights.safetensors.
            var inside = Path.Combine(file, "pytorch_lora_weights.safetensors");
            if (!File.Exists(inside))
                throw new DreamBoothException($"--lora {file}: a folder without pytorch_lora_weights.safetensors; give the LoRA .safetensors file (a model folder goes to --model).");
            file = inside;
        }
        if (!File.Exists(file)) throw new DreamBoothException($"--lora {file}: file not found.");
        return (file, scale);
    }
}
