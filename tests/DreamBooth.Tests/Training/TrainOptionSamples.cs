namespace DreamBooth.Tests.Training;

using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using DreamBooth.Training;

/// <summary>Test values for any declared option, derived from its type and choices, so a new option needs no new test data.</summary>
internal static class TrainOptionSamples
{
    public static TheoryData<string> Keys()
    {
        var data = new TheoryData<string>();
        foreach (var option in TrainOption.All) data.Add(option.Key);
        return data;
    }

    public static TrainOption Option(string key) => TrainOption.Find(key) ?? throw new ArgumentException(key);

    /// <summary>A value other than the default.</summary>
    public static object Sample(TrainOption o) => Pick(o, 0);

    /// <summary>A value other than <see cref="Sample"/> (it may be the default).</summary>
    public static object Other(TrainOption o) => Pick(o, 1);

    private static object Pick(TrainOption o, int which)
    {
        var t = o.BaseType;
        if (t == typeof(bool)) return which == 0;
        if (t == typeof(int)) return which == 0 ? 8 : 16;   // 8: a valid resolution too
        if (t == typeof(double)) return which == 0 ? 0.3125 : 0.4375;
        if (t == typeof(ulong)) return which == 0 ? 1234UL : 99UL;
        if (t.IsEnum || o.Choices.Count > 0)
        {
            var values = o.Choices.Select(c => t.IsEnum ? Enum.Parse(t, c, ignoreCase: true) : c).ToList();
            var sample = values.First(v => !Same(v, o.Default));
            return which == 0 ? sample : values.First(v => !Same(v, sample));
        }
        if (t == typeof(string)) return $"{o.Key}-{"ab"[which]}";
        if (t == typeof(IReadOnlyList<string>)) return which == 0 ? new[] { "a", "b" } : new[] { "c" };
        throw new NotSupportedException($"{o.Key}: no sample for {t}");
    }

    /// <summary>The command-line arguments that give <paramref name="value"/> (a switch can only be turned on).</summary>
    public static string[] Flag(TrainOption o, object value)
    {
        if (o.IsSwitch) return (bool)value ? [o.Flag] : throw new ArgumentException("a switch flag cannot say false");
        var text = value switch
        {
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            Enum e => e.ToString().ToLowerInvariant(),
            IEnumerable<string> list => string.Join(',', list),
            _ => Convert.ToString(value, CultureInfo.InvariantCulture)!,
        };
        return [o.Flag, text];
    }

    /// <summary>The value as a config file holds it.</summary>
    public static JsonNode? Json(object value) => value is Enum e
        ? JsonValue.Create(e.ToString().ToLowerInvariant())
        : JsonSerializer.SerializeToNode(value);

    public static string WriteConfig(string dir, string name, params (string Key, object Value)[] entries)
    {
        var path = Path.Combine(dir, name);
        var json = new JsonObject();
        foreach (var (key, value) in entries) json[key] = Json(value);
        if (name.EndsWith(".json", StringComparison.Ordinal)) File.WriteAllText(path, json.ToJsonString());
        else File.WriteAllLines(path, json.Select(kv => $"{kv.Key}: {kv.Value!.ToJsonString()}"));   // JSON values are YAML flow values
        return path;
    }

    public static bool Same(object? a, object? b) =>
        a is IEnumerable<string> x && a is not string && b is IEnumerable<string> y && b is not string ? x.SequenceEqual(y) : Equals(a, b);
}
