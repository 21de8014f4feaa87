namespace DreamBooth.Tests.Schedulers;

using System.Text.Json;
using System.Text.Json.Nodes;
using DreamBooth.Schedulers;

internal static class ConfigAssert
{
    /// <summary>
    /// A resolved config equals diffusers' <c>scheduler.config</c> dict: same keys (null-valued reference keys are
    /// "unset" on our side), same values (numbers compared as doubles, "-Infinity" as −∞).
    /// </summary>
    public static void Equal(JsonObject expected, SchedulerConfig actual, string what)
    {
        var ours = actual.ToJsonObject();
        ours.Remove("_class_name");
        ours.Remove("_diffusers_version");
        var theirs = expected.Where(kv => kv.Value is not null && !kv.Key.StartsWith('_')).ToDictionary(kv => kv.Key, kv => kv.Value!);
        Assert.True(theirs.Keys.Order().SequenceEqual(ours.Select(kv => kv.Key).Order()),
            $"{what}: keys differ; missing [{string.Join(", ", theirs.Keys.Except(ours.Select(kv => kv.Key)))}], " +
            $"extra [{string.Join(", ", ours.Select(kv => kv.Key).Except(theirs.Keys))}]");
        foreach (var (key, value) in theirs)
            Assert.True(SameValue(value, ours[key]!), $"{what}: '{key}' = {ours[key]!.ToJsonString()}, expected {value.ToJsonString()}");
    }

    private static bool SameValue(JsonNode expected, JsonNode actual)
    {
        if (AsDouble(expected) is double e && AsDouble(actual) is double a) return e.Equals(a);
        if (expected is JsonArray ea && actual is JsonArray aa) return ea.Count == aa.Count && ea.Zip(aa).All(p => SameValue(p.First!, p.Second!));
        return JsonNode.DeepEquals(expected, actual);
    }

    private static double? AsDouble(JsonNode node) => node is JsonValue v
        ? v.GetValueKind() switch
        {
            JsonValueKind.Number => v.GetValue<double>(),
            JsonValueKind.String when v.GetValue<string>() is "-Infinity" => double.NegativeInfinity,
            JsonValueKind.String when v.GetValue<string>() is "Infinity" => double.PositiveInfinity,
            _ => null,
        }
        : null;
}
