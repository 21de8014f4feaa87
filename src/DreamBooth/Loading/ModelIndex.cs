namespace DreamBooth.Loading;

using System.Text.Json.Nodes;

/// <summary>A pipeline's model_index.json: the pipeline class and each component's (library, class).</summary>
public sealed record ModelIndex(string PipelineClass, IReadOnlyDictionary<string, (string Library, string Class)> Components, ConfigFile File)
{
    /// <summary>SDXL: encode a missing negative prompt as zeros rather than "" (diffusers' default for XL pipelines).</summary>
    public bool ForceZerosForEmptyPrompt => File.Optional("force_zeros_for_empty_prompt", PipelineClass.Contains("XL", StringComparison.Ordinal));

    public static ModelIndex Load(string folder)
    {
        var path = Path.Combine(folder, "model_index.json");
        if (!System.IO.File.Exists(path)) throw new DreamBoothException($"{folder}: not a diffusers pipeline folder (no model_index.json).");
        var config = ConfigFile.Load(path);
        var pipeline = config.Required<string>("_class_name");
        var components = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        foreach (var (key, value) in config.Json)
        {
            if (key.StartsWith('_')) continue;
            // Components are ["library", "Class"]; null entries (e.g. no safety checker) and plain options are skipped.
            if (value is JsonArray { Count: 2 } pair && pair[0] is JsonValue lib && pair[1] is JsonValue cls &&
                lib.TryGetValue<string>(out var library) && cls.TryGetValue<string>(out var className))
                components[key] = (library, className);
        }
        return new ModelIndex(pipeline, components, config);
    }
}
