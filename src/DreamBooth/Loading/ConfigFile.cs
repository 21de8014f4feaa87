namespace DreamBooth.Loading;

using System.Text.Json;
using System.Text.Json.Nodes;

/// <summary>
/// A diffusers/transformers config.json: typed accessors that name the file and key on error.
/// Unknown keys are tolerated (kept in <see cref="Json"/>).
/// </summary>
public sealed class ConfigFile
{
    public string Path { get; }

    public JsonObject Json { get; }

    public ConfigFile(string path, JsonObject json)
    {
        Path = path;
        Json = json;
    }

    public static ConfigFile Load(string path)
    {
        if (!File.Exists(path)) throw new DreamBoothException($"{path}: file not found.");
        return Parse(path, DreamBooth.IO.BoundedFile.ReadAllText(path));
    }

    /// <summary>Parses <paramref name="text"/> (the content of <paramref name="path"/>, possibly pre-processed) as a JSON
    /// object; errors name <paramref name="path"/>. Trailing commas and comments are tolerated.</summary>
    public static ConfigFile Parse(string path, string text)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new DreamBoothException($"{path}: invalid JSON ({e.Message.Split('.')[0]}).");
        }
        return node is JsonObject obj ? new ConfigFile(path, obj) : throw new DreamBoothException($"{path}: expected a JSON object.");
    }

    public bool Has(string key) => Json.TryGetPropertyValue(key, out var v) && v is not null;

    public T Required<T>(string key) =>
        Has(key) ? Convert<T>(key, Json[key]!) : throw new DreamBoothException($"{Path}: required key '{key}' is missing.");

    public T Optional<T>(string key, T fallback) => Has(key) ? Convert<T>(key, Json[key]!) : fallback;

    /// <summary>An int or a list of ints (diffusers allows both, e.g. attention_head_dim), expanded to <paramref name="count"/>.</summary>
    public int[] IntOrList(string key, int count, int? fallback = null)
    {
        if (!Has(key))
        {
            if (fallback is int f) return Enumerable.Repeat(f, count).ToArray();
            throw new DreamBoothException($"{Path}: required key '{key}' is missing.");
        }
        var node = Json[key]!;
        if (node is JsonArray arr)
        {
            var list = Convert<int[]>(key, arr);
            if (list.Length != count) throw new DreamBoothException($"{Path}: '{key}' has {list.Length} entries, expected {count}.");
            return list;
        }
        return Enumerable.Repeat(Convert<int>(key, node), count).ToArray();
    }

    private T Convert<T>(string key, JsonNode node)
    {
        try
        {
            return node.Deserialize<T>() ?? throw new DreamBoothException($"{Path}: '{key}' is null.");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new DreamBoothException($"{Path}: '{key}' has the wrong type (expected {typeof(T).Name}): {node.ToJsonString()}.");
        }
    }
}
