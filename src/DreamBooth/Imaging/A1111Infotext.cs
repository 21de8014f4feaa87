// Mirrors AUTOMATIC1111 stable-diffusion-webui modules/processing.py::create_infotext (the PNG "parameters" text).
namespace DreamBooth.Imaging;

using System.Globalization;
using System.Text;

/// <summary>
/// Builds the "parameters" text A1111 stores in its PNGs and that A1111, ComfyUI, Civitai and others parse:
/// <code>
/// prompt
/// Negative prompt: negative        (line left out when empty)
/// Steps: 30, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: name, Key: value, ...
/// </code>
/// Values holding ',', ':' or a newline are JSON-quoted, as A1111's <c>quote()</c> does, so the line stays parseable.
/// </summary>
public static class A1111Infotext
{
    /// <param name="extra">More "Key: value" pairs appended in order (e.g. "Lora hashes"); null values are skipped.</param>
    public static string Format(
        string prompt, string? negativePrompt, int steps, string sampler, double cfgScale, long seed, int width, int height,
        string? model = null, string? modelHash = null, IEnumerable<KeyValuePair<string, string?>>? extra = null)
    {
        var pairs = new List<KeyValuePair<string, string?>>
        {
            new("Steps", steps.ToString(CultureInfo.InvariantCulture)),
            new("Sampler", sampler),
            new("CFG scale", cfgScale.ToString("R", CultureInfo.InvariantCulture)),
            new("Seed", seed.ToString(CultureInfo.InvariantCulture)),
            new("Size", $"{width}x{height}"),
            new("Model hash", modelHash),
            new("Model", model),
        };
        if (extra is not null) pairs.AddRange(extra);
        var settings = string.Join(", ", pairs.Where(p => p.Value is not null).Select(p => $"{p.Key}: {Quote(p.Value!)}"));
        var negative = string.IsNullOrEmpty(negativePrompt) ? "" : $"\nNegative prompt: {negativePrompt}";
        return $"{prompt}{negative}\n{settings}".Trim();
    }

    /// <summary>A1111's quote(): the value as is, or as a JSON string (non-ASCII kept) when it holds ',', ':' or '\n'.</summary>
    public static string Quote(string value)
    {
        if (!value.Contains(',') && !value.Contains(':') && !value.Contains('\n')) return value;
        var sb = new StringBuilder("\"");
        foreach (var ch in value)
        {
            sb.Append(ch switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\b' => "\\b",
                '\f' => "\\f",
                < ' ' => $"\\u{(int)ch:x4}",
                _ => ch.ToString(),
            });
        }
        return sb.Append('"').ToString();
    }
}
