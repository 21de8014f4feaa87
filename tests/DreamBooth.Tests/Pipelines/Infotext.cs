namespace DreamBooth.Tests.Pipelines;

using System.Text.Json;
using System.Text.RegularExpressions;

/// <summary>Splits A1111 "parameters" text back into its parts, the way A1111's parse_generation_parameters reads it.</summary>
internal static partial class Infotext
{
    public sealed record Parsed(string Prompt, string? NegativePrompt, IReadOnlyList<KeyValuePair<string, string>> Settings)
    {
        public string this[string key] => Settings.Single(p => p.Key == key).Value;

        public bool Has(string key) => Settings.Any(p => p.Key == key);
    }

    public static Parsed Parse(string text)
    {
        var lines = text.Split('\n');
        var settings = lines[^1];
        var negative = lines.Length > 2 && lines[1].StartsWith("Negative prompt: ", StringComparison.Ordinal) ? lines[1]["Negative prompt: ".Length..] : null;
        var pairs = Pair().Matches(settings)
            .Select(m => new KeyValuePair<string, string>(m.Groups[1].Value, m.Groups[2].Value.StartsWith('"') ? JsonSerializer.Deserialize<string>(m.Groups[2].Value)! : m.Groups[2].Value))
            .ToList();
        return new Parsed(lines[0], negative, pairs);
    }

    [GeneratedRegex("""\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)""")]
    private static partial Regex Pair();
}
