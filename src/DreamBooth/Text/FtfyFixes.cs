// Mirrors ftfy 6.3.1 ftfy/fixes.py: the individual fixers that ftfy.fix_text chains.
using System.Globalization;
using System.Text;

namespace DreamBooth.Text;

internal static class FtfyFixes
{
    /// <summary>
    /// fixes.unescape_html: HTML5 entities that end in ';' (plus upper-cased Latin ones such as &amp;EACUTE;) and
    /// numeric references, never the ambiguous semicolon-less forms.
    /// </summary>
    public static string UnescapeHtml(string text)
    {
        if (!text.Contains('&')) return text;
        return FtfyCharData.HtmlEntity.Replace(text, m =>
        {
            var entity = m.Value;
            if (FtfyCharData.HtmlEntities.Value.TryGetValue(entity[1..^1], out var named)) return named;
            if (!entity.StartsWith("&#", StringComparison.Ordinal)) return entity;
            var decoded = DecodeNumericReference(entity[2..^1]);
            // Python's html.unescape decodes a prefix only ("&#12ab;"), leaving the ';': ftfy then keeps the original.
            return decoded is null || decoded.Contains(';') ? entity : decoded;
        });
    }

    // html.unescape's charref rules for "#123" / "#x7B" bodies; null when the body is not all digits.
    private static string? DecodeNumericReference(string body)
    {
        var hex = body.Length > 1 && body[0] is 'x' or 'X';
        var digits = hex ? body[1..] : body;
        if (digits.Length == 0 || !digits.All(c => hex ? char.IsAsciiHexDigit(c) : char.IsAsciiDigit(c))) return null;
        digits = digits.TrimStart('0');
        long num = digits.Length == 0 ? 0
            : digits.Length > 8 ? long.MaxValue
            : long.Parse(digits, hex ? NumberStyles.HexNumber : NumberStyles.None, CultureInfo.InvariantCulture);
        if (num <= 0xFFFF && FtfyCharData.InvalidCharrefs.TryGetValue((int)num, out var remapped)) return remapped;
        if (num is >= 0xD800 and <= 0xDFFF or > 0x10FFFF) return "\uFFFD";
        if (FtfyCharData.InvalidCodepoints.Contains((int)num)) return "";
        return char.ConvertFromUtf32((int)num);
    }

    /// <summary>fixes.remove_terminal_escapes: drops ANSI colour/cursor sequences.</summary>
    public static string RemoveTerminalEscapes(string text) =>
        text.Contains('\x1b') ? FtfyCharData.AnsiEscape.Replace(text, "") : text;

    /// <summary>fixes.uncurl_quotes: curly single/double quotes become ASCII ' and ".</summary>
    public static string UncurlQuotes(string text) =>
        FtfyCharData.SingleQuote.Replace(FtfyCharData.DoubleQuote.Replace(text, "\""), "'");

    /// <summary>fixes.fix_latin_ligatures: ﬁ → fi and the like (Latin only).</summary>
    public static string FixLatinLigatures(string text) => Translate(text, FtfyCharData.Ligatures);

    /// <summary>fixes.fix_character_width: full-width ASCII, half-width katakana/Hangul and U+3000 to standard width.</summary>
    public static string FixCharacterWidth(string text) => Translate(text, FtfyCharData.WidthMap);

    /// <summary>fixes.fix_line_breaks: CRLF, CR, U+2028, U+2029 and U+0085 become "\n".</summary>
    public static string FixLineBreaks(string text) =>
        text.Replace("\r\n", "\n").Replace('\r', '\n').Replace('\u2028', '\n').Replace('\u2029', '\n').Replace('\u0085', '\n');

    /// <summary>fixes.fix_surrogates: pairs are already joined in UTF-16, so only lone surrogates remain: U+FFFD.</summary>
    public static string FixSurrogates(string text)
    {
        StringBuilder? sb = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var paired = char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]);
            if (paired)
            {
                sb?.Append(c).Append(text[i + 1]);
                i++;
                continue;
            }
            if (char.IsSurrogate(c))
            {
                sb ??= new StringBuilder(text, 0, i, text.Length);
                sb.Append('\uFFFD');
            }
            else sb?.Append(c);
        }
        return sb?.ToString() ?? text;
    }

    /// <summary>fixes.remove_control_chars (see <see cref="FtfyCharData.IsRemovableControl"/>).</summary>
    public static string RemoveControlChars(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
            if (!FtfyCharData.IsRemovableControl(c)) sb.Append(c);
        return sb.Length == text.Length ? text : sb.ToString();
    }

    /// <summary>fixes.restore_byte_a0 on a byte string: spaces inside likely UTF-8 sequences were U+00A0 bytes.</summary>
    public static string RestoreByteA0(string bytes)
    {
        bytes = FtfyCharData.AGraveWord.Replace(bytes, "\u00c3\u00a0 ");
        return FtfyCharData.AlteredUtf8.Replace(bytes, m => m.Value.Replace(' ', '\u00a0'));
    }

    /// <summary>fixes.replace_lossy_sequences on a byte string: UTF-8 sequences with lost bytes (0x1A) become U+FFFD.</summary>
    public static string ReplaceLossySequences(string bytes) => FtfyCharData.LossyUtf8.Replace(bytes, "\u00ef\u00bf\u00bd");

    /// <summary>fixes.decode_inconsistent_utf8: fixes UTF-8 mojibake embedded in otherwise different text.</summary>
    public static string DecodeInconsistentUtf8(string text) =>
        FtfyCharData.Utf8Detector.Replace(text, m =>
        {
            var substr = m.Value;
            // Only strictly shorter pieces, so this cannot recurse forever.
            return substr.Length < text.Length && FtfyCharData.IsBad(substr) ? Ftfy.FixEncoding(substr) : substr;
        });

    /// <summary>fixes.fix_c1_controls: C1 controls read as their windows-1252 characters, like browsers do.</summary>
    public static string FixC1Controls(string text) =>
        FtfyCharData.C1Control.Replace(text, m => FtfyCodecs.SloppyWindows1252.Decode((byte)m.Value[0]).ToString());

    private static string Translate(string text, IReadOnlyDictionary<int, string> map)
    {
        StringBuilder? sb = null;
        for (var i = 0; i < text.Length; i++)
        {
            if (map.TryGetValue(text[i], out var replacement))
            {
                sb ??= new StringBuilder(text, 0, i, text.Length + 8);
                sb.Append(replacement);
            }
            else sb?.Append(text[i]);
        }
        return sb?.ToString() ?? text;
    }
}
