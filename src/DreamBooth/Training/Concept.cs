namespace DreamBooth.Training;

using System.Text.Json;
using DreamBooth.Text;

/// <summary>
/// One subject of a run: its photos and prompt, and (with prior preservation) its class images and prompt; the
/// identifier and class noun fill <c>{identifier}</c> and <c>{class}</c> in its captions. A plain run has one, made of
/// the instance and class options; <c>--concepts-list</c> gives several (see <see cref="LoadList"/>).
/// </summary>
public sealed record Concept(string InstanceDataDir, string InstancePrompt, string? ClassDataDir = null, string? ClassPrompt = null,
                             string? Identifier = null, string? ClassNoun = null)
{
    /// <summary>The keys of a concept in a concepts file, as the DreamBooth forks that introduced the file name them.</summary>
    public static readonly IReadOnlyList<string> Keys = ["instance_prompt", "class_prompt", "instance_data_dir", "class_data_dir", "identifier", "class_noun"];

    /// <summary>
    /// Reads a JSON or YAML list of concepts, each a mapping with <c>instance_prompt</c> and <c>instance_data_dir</c>,
    /// and <c>class_prompt</c> and <c>class_data_dir</c> (needed when <paramref name="withClasses"/>, unused otherwise),
    /// optionally <c>identifier</c> and <c>class_noun</c>; keys snake_case or kebab-case. Folders are relative to the
    /// current directory, as in a --config file. Every problem is one line naming the file and the concept (1-based).
    /// </summary>
    public static IReadOnlyList<Concept> LoadList(string path, bool withClasses)
    {
        using var doc = TrainOptions.ReadStructured(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Array)
            throw new DreamBoothException($"{path}: expected a list of concepts, each with instance_prompt and instance_data_dir (and class_prompt, class_data_dir).");
        var concepts = new List<Concept>();
        foreach (var item in doc.RootElement.EnumerateArray())
        {
            var where = $"{path}: concept {concepts.Count + 1}";
            if (item.ValueKind != JsonValueKind.Object)
                throw new DreamBoothException($"{where}: expected a mapping with instance_prompt and instance_data_dir.");
            var values = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var p in item.EnumerateObject())
            {
                var key = p.Name.Replace('-', '_');
                if (!Keys.Contains(key)) throw new DreamBoothException($"{where}: unknown key '{p.Name}'{NameSuggestion.Hint(key, Keys)}.");
                values[key] = p.Value.ValueKind switch
                {
                    JsonValueKind.Null => null,
                    JsonValueKind.String => p.Value.GetString(),
                    _ => throw new DreamBoothException($"{where}: '{key}' must be text."),
                };
            }
            string? Text(string key) => values.GetValueOrDefault(key) is { } v && !string.IsNullOrWhiteSpace(v) ? v : null;
            string Needed(string key, string why) => Text(key) ?? throw new DreamBoothException($"{where}: {key} is required{why}.");
            var instanceDir = Needed("instance_data_dir", "");
            if (File.Exists(instanceDir)) throw new DreamBoothException($"{where}: instance_data_dir {instanceDir}: is a file; give the folder it is in.");
            if (!Directory.Exists(instanceDir)) throw new DreamBoothException($"{where}: instance_data_dir {instanceDir}: folder not found.");
            var concept = new Concept(instanceDir, Needed("instance_prompt", ""), Identifier: Text("identifier"), ClassNoun: Text("class_noun"));
            if (withClasses)
            {
                const string Why = " with prior preservation";
                concept = concept with { ClassDataDir = Needed("class_data_dir", Why), ClassPrompt = Needed("class_prompt", Why) };
                if (File.Exists(concept.ClassDataDir)) throw new DreamBoothException($"{where}: class_data_dir {concept.ClassDataDir}: is a file, not a folder.");
            }
            concepts.Add(concept);
        }
        if (concepts.Count == 0) throw new DreamBoothException($"{path}: the list holds no concepts.");
        return concepts;
    }
}
