namespace DreamBooth.Training;

using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using DreamBooth.Text;
using YamlDotNet.Serialization;

public sealed partial record TrainOptions
{
    /// <summary>Reads a JSON or YAML config holding the options' keys (snake_case or kebab-case); keys left out keep their defaults.</summary>
    public static TrainOptions LoadConfig(string path)
    {
        if (!File.Exists(path)) throw new DreamBoothException($"{path}: config file not found.");
        using var doc = ReadStructured(path);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new DreamBoothException($"{path}: expected a mapping of option names to values.");
        // A key given twice (once snake_case, once kebab-case) counts once: the last one wins.
        var values = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.EnumerateObject()) values[p.Name.Replace('-', '_')] = p.Value;
        var unknown = values.Keys.FirstOrDefault(k => TrainOption.Find(k) is null);
        if (unknown is not null)
            throw new DreamBoothException($"{path}: unknown option '{unknown}'{NameSuggestion.Hint(unknown, TrainOption.All.Select(o => o.Key))}.");
        var options = new TrainOptions();
        foreach (var (key, value) in values)
        {
            var option = TrainOption.Find(key)!;
            if (!option.TryRead(value, out var read)) throw new DreamBoothException($"{path}: '{key}' must be {option.Expected}.");
            options = option.With(options, read);
        }
        return options;
    }

    /// <summary>A JSON file, or a YAML file read as JSON (by extension), within the limits below; one-line errors.</summary>
    internal static JsonDocument ReadStructured(string path)
    {
        if (!File.Exists(path)) throw new DreamBoothException($"{path}: {(Directory.Exists(path) ? "is a folder, not a file" : "file not found")}.");
        var text = DreamBooth.IO.BoundedFile.ReadAllText(path);
        string json;
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            json = text;
        else
        {
            try
            {
                var yaml = new DeserializerBuilder().Build().Deserialize<object?>(text);
                json = YamlToJson(yaml, path)?.ToJsonString() ?? "{}";
            }
            catch (YamlDotNet.Core.YamlException e)
            {
                throw new DreamBoothException($"{path}: invalid YAML at line {e.Start.Line}: {e.Message}");
            }
        }
        try
        {
            return JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new DreamBoothException($"{path}: {e.Message.Split(". Path")[0]}");
        }
    }

    // YAML aliases make a graph: one that refers to itself recursed until the stack overflowed, and nested ones
    // ("billion laughs") expand exponentially. Configs and concept lists are shallow, so depth and value count are capped.
    private const int MaxYamlDepth = 16, MaxYamlValues = 10_000;

    private static JsonNode? YamlToJson(object? root, string path)
    {
        int values = 0;
        JsonNode? Convert(object? value, int depth)
        {
            if (depth > MaxYamlDepth || ++values > MaxYamlValues)
                throw new DreamBoothException($"{path}: the YAML expands to more than {MaxYamlDepth} levels or {MaxYamlValues:N0} values (a self-referencing or nested alias?).");
            return value switch
            {
                IDictionary<object, object?> map => new JsonObject(
                    map.Select(kv => KeyValuePair.Create(System.Convert.ToString(kv.Key, CultureInfo.InvariantCulture)!, Convert(kv.Value, depth + 1)))),
                IList<object?> list => new JsonArray(list.Select(v => Convert(v, depth + 1)).ToArray()),
                _ => YamlScalar(value),
            };
        }
        return Convert(root, 0);
    }

    // YAML scalars arrive as strings: give them JSON types the way YAML 1.2's core schema reads them.
    private static JsonNode? YamlScalar(object? value) => value switch
    {
        null => null,
        string s when s is "~" or "null" or "Null" or "NULL" => null,
        string s when s is "true" or "True" or "TRUE" => JsonValue.Create(true),
        string s when s is "false" or "False" or "FALSE" => JsonValue.Create(false),
        string s when long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
        string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
                        && double.IsFinite(d) =>   // .NET also parses "nan"/"Infinity", which JSON cannot hold: keep them text
            JsonValue.Create(d),
        _ => JsonValue.Create(System.Convert.ToString(value, CultureInfo.InvariantCulture)),
    };
}
