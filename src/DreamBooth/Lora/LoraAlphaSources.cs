// Where a LoRA file's alpha lives when it has no per-module .alpha tensors: peft's adapter_config.json beside the
// file, or the safetensors header's "lora_adapter_metadata" (written by diffusers ≥ 0.34 and by LoraWriter; keys
// prefixed "unet." / "text_encoder." / "text_encoder_2." for pipeline files, unprefixed for single-model files).
namespace DreamBooth.Lora;

using System.Text.Json;

internal static class AlphaSources
{
    public const string MetadataKey = "lora_adapter_metadata";

    private static readonly (string Prefix, LoraComponent Component)[] Prefixes =
        [("unet.", LoraComponent.Unet), ("text_encoder.", LoraComponent.TextEncoder), ("text_encoder_2.", LoraComponent.TextEncoder2)];

    public static Dictionary<LoraComponent, LoraAlphaSettings> Read(string path, IReadOnlyDictionary<string, string> metadata,
                                                                    string format, List<LoraFileEntry> entries)
    {
        var result = new Dictionary<LoraComponent, LoraAlphaSettings>();
        if (format == "kohya") return result;   // kohya files carry one .alpha per module
        var components = entries.Select(e => e.Component).Distinct().ToList();

        if (metadata.TryGetValue(MetadataKey, out var json))
        {
            var root = Parse(json, $"{path} ({MetadataKey})");
            bool prefixed = root.EnumerateObject().Any(p => Prefixes.Any(x => p.Name.StartsWith(x.Prefix, StringComparison.Ordinal)));
            foreach (var component in components)
            {
                var prefix = prefixed ? Prefixes.First(x => x.Component == component).Prefix : "";
                var settings = FromConfig(root, prefix, $"{System.IO.Path.GetFileName(path)} metadata");
                if (settings is not null) result[component] = settings;
            }
        }

        var configPath = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, "adapter_config.json");
        if (result.Count == 0 && File.Exists(configPath) && format != "diffusers-attn-processor")
        {
            var root = Parse(DreamBooth.IO.BoundedFile.ReadAllText(configPath), configPath);
            var settings = FromConfig(root, "", configPath);
            if (settings is not null)
                foreach (var component in components) result[component] = settings;
        }
        return result;
    }

    /// <summary>peft's auto_mapping.base_model_class from adapter_config.json beside the file, if any.</summary>
    public static string? BaseModelClass(string path)
    {
        var configPath = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!, "adapter_config.json");
        if (!File.Exists(configPath)) return null;
        var root = Parse(DreamBooth.IO.BoundedFile.ReadAllText(configPath), configPath);
        return root.TryGetProperty("auto_mapping", out var m) && m.ValueKind == JsonValueKind.Object &&
               m.TryGetProperty("base_model_class", out var c) && c.ValueKind == JsonValueKind.String
            ? c.GetString()
            : null;
    }

    private static LoraAlphaSettings? FromConfig(JsonElement root, string prefix, string source)
    {
        if (!root.TryGetProperty(prefix + "lora_alpha", out var alpha)) return null;
        if (root.TryGetProperty(prefix + "use_dora", out var dora) && dora.ValueKind == JsonValueKind.True)
            throw new DreamBoothException($"{source} describes a DoRA adapter (use_dora); only plain LoRA is supported.");
        var pattern = new Dictionary<string, double>(StringComparer.Ordinal);
        if (root.TryGetProperty(prefix + "alpha_pattern", out var p) && p.ValueKind == JsonValueKind.Object)
            foreach (var kv in p.EnumerateObject()) pattern[kv.Name] = Number(kv.Value, source, "alpha_pattern." + kv.Name);
        bool rs = root.TryGetProperty(prefix + "use_rslora", out var r) && r.ValueKind == JsonValueKind.True;
        return new LoraAlphaSettings(Number(alpha, source, prefix + "lora_alpha"), pattern, rs, source);
    }

    private static double Number(JsonElement e, string source, string key) =>
        e.ValueKind == JsonValueKind.Number ? e.GetDouble() : throw new DreamBoothException($"{source}: '{key}' must be a number.");

    private static JsonElement Parse(string json, string source)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                ? doc.RootElement.Clone()
                : throw new DreamBoothException($"{source}: expected a JSON object.");
        }
        catch (JsonException e)
        {
            throw new DreamBoothException($"{source}: invalid JSON ({e.Message}).");
        }
    }
}
