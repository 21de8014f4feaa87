using System.Text.Json;

namespace DreamBooth.Tests.Text;

/// <summary>
/// tests/DreamBooth.Tests/Text/text_reference.json, written by tools/gen_text_reference.py with the real ftfy 6.3.1
/// (its own test-case inputs, HTML-entity examples and fixed-seed mojibake) and CPython 3.11's unicodedata.
/// </summary>
internal static class TextReference
{
    private static readonly Lazy<JsonElement> Root = new(() =>
    {
        var path = Path.Combine(Fixtures.RepoRoot, "tests", "DreamBooth.Tests", "Text", "text_reference.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.Clone();
    });

    public static IEnumerable<(string Text, string Fixed, bool Bad)> FtfyCases =>
        Root.Value.GetProperty("ftfy").EnumerateArray().Select(c =>
            (c.GetProperty("text").GetString()!, c.GetProperty("fixed").GetString()!, c.GetProperty("bad").GetBoolean()));

    public static IEnumerable<(string Text, string Nfc)> NfcCases =>
        Root.Value.GetProperty("nfc").EnumerateArray().Select(c => (c[0].GetString()!, c[1].GetString()!));

    /// <summary>A string with every non-ASCII char as \uXXXX, for readable failure messages.</summary>
    public static string Escape(string s) =>
        string.Concat(s.Select(c => c is < ' ' or > '~' ? $"\\u{(int)c:X4}" : c.ToString()));
}
