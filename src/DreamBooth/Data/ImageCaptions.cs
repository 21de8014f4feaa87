// Per-image captions as kohya's sd-scripts (a text file beside each image) and Hugging Face's imagefolder
// (metadata.jsonl with file_name and text) lay them out.
namespace DreamBooth.Data;

using System.Text.Json;
using System.Text.RegularExpressions;
using DreamBooth.IO;

/// <summary>An image's own caption and the file it came from (for messages).</summary>
public sealed record Caption(string Text, string Source);

/// <summary>
/// The captions of one image folder. An image's caption is the text of <c>STEM+extension</c> beside it (the whole file,
/// trimmed), else the <c>text</c> of its row in the folder's <c>metadata.jsonl</c> (rows of <c>{"file_name", "text"}</c>,
/// file names relative to the folder); an image with neither has none (training then uses the concept's prompt).
/// A caption file or row that names a caption but holds no text is refused: it is a mistake, not a request for the prompt.
/// </summary>
public sealed partial class ImageCaptions
{
    public const string MetadataFile = "metadata.jsonl";
    private readonly string dir;
    private readonly string extension;
    private readonly Dictionary<string, Caption> metadata = new(StringComparer.Ordinal);

    private ImageCaptions(string dir, string extension)
    {
        this.dir = dir;
        this.extension = extension;
    }

    /// <summary>Reads <paramref name="dir"/>'s metadata.jsonl (when there is one) and refuses a malformed one, naming the line.</summary>
    public static ImageCaptions Read(string dir, string extension)
    {
        var captions = new ImageCaptions(dir, extension);
        var path = Path.Combine(dir, MetadataFile);
        if (!File.Exists(path)) return captions;
        var lines = BoundedFile.ReadAllText(path).Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0) continue;
            var where = $"{path} line {i + 1}";
            string? file, text;
            try
            {
                using var row = JsonDocument.Parse(line);
                if (row.RootElement.ValueKind != JsonValueKind.Object) throw new DreamBoothException($"{where}: expected an object with file_name and text.");
                file = String(row.RootElement, "file_name", where);
                text = String(row.RootElement, "text", where);
            }
            catch (JsonException e)
            {
                throw new DreamBoothException($"{where}: not valid JSON ({e.Message.Split(". Path")[0].TrimEnd('.')}).");
            }
            if (file is null) throw new DreamBoothException($"{where}: no file_name.");
            if (text is null) throw new DreamBoothException($"{where}: no text (the caption) for {file}.");
            var image = Path.GetFullPath(Path.Combine(dir, file));
            if (!File.Exists(image)) throw new DreamBoothException($"{where}: {file} is not a file in {dir}.");
            if (!captions.metadata.TryAdd(image, new Caption(text, where)))
                throw new DreamBoothException($"{where}: {file} has a caption on an earlier line too.");
        }
        return captions;
    }

    private static string? String(JsonElement row, string key, string where) =>
        !row.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString()
        : throw new DreamBoothException($"{where}: {key} must be text.");

    /// <summary>The caption file of <paramref name="image"/> (it may not exist).</summary>
    public string SidecarOf(string image) => Path.Combine(Path.GetDirectoryName(image) ?? dir, Path.GetFileNameWithoutExtension(image) + extension);

    /// <summary>The files these captions may read for <paramref name="images"/>: metadata.jsonl and the images' caption files.</summary>
    public IReadOnlySet<string> FilesOf(IEnumerable<string> images) =>
        images.Select(SidecarOf).Append(Path.Combine(dir, MetadataFile)).ToHashSet(StringComparer.Ordinal);

    /// <summary>The caption of <paramref name="image"/> (a path in the folder), or null when it has none.</summary>
    public Caption? Of(string image)
    {
        var sidecar = SidecarOf(image);
        Caption? caption = File.Exists(sidecar) ? new Caption(BoundedFile.ReadAllText(sidecar), sidecar)
            : metadata.GetValueOrDefault(Path.GetFullPath(image));
        if (caption is null) return null;
        var text = caption.Text.Trim();
        if (text.Length == 0)
            throw new DreamBoothException($"{caption.Source}: empty caption for {Path.GetFileName(image)}; write one, or remove it to train that image on the prompt.");
        return caption with { Text = text };
    }

    /// <summary>
    /// <paramref name="caption"/> with <c>{identifier}</c> and <c>{class}</c> filled in. Refuses a placeholder whose value
    /// is not set, and any other <c>{name}</c> (a mistyped placeholder would otherwise train as literal text).
    /// </summary>
    public static string Fill(Caption caption, string? identifier, string? classNoun) => Placeholder().Replace(caption.Text, m => m.Groups[1].Value switch
    {
        "identifier" => Value(caption, identifier, "{identifier}", "--identifier (e.g. --identifier sks)"),
        "class" => Value(caption, classNoun, "{class}", "--class-noun (e.g. --class-noun dog)"),
        var other => throw new DreamBoothException($"{caption.Source}: unknown placeholder {{{other}}}; captions may use {{identifier}} and {{class}}."),
    });

    private static string Value(Caption caption, string? value, string placeholder, string how) => Clean(value)
        ?? throw new DreamBoothException($"{caption.Source}: the caption uses {placeholder}, which is not set; set {how}, or identifier / class_noun in the concept.");

    private static string? Clean(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    [GeneratedRegex(@"\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex Placeholder();
}
