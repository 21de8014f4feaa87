// Mirrors transformers src/transformers/models/clip/tokenization_clip.py: the pre-tokenizer pattern `self.pat`
// (run with the `regex` module, IGNORECASE) and bytes_to_unicode.
using System.Globalization;
using DreamBooth.Text;

namespace DreamBooth.Models.Clip;

/// <summary>
/// Splits normalised text into BPE words like
/// <c>&lt;\|startoftext\|&gt;|&lt;\|endoftext\|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>
/// (case-insensitive). Written as a scanner over code points because .NET's regex classes see UTF-16 units, so
/// astral letters and digits (CJK extension B, math alphanumerics) would not count as \p{L} / \p{N}.
/// </summary>
public static class CLIPPreTokenizer
{
    // Alternatives in pattern order; IGNORECASE lets 'ſ' (long s, simple case fold "s") stand for 's'.
    private static readonly string[] Specials = [CLIPTokenizerConfig.StartOfText, CLIPTokenizerConfig.EndOfText];
    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

    /// <summary>The matches of the pattern in <paramref name="text"/>, in order (re.findall).</summary>
    public static List<string> FindWords(string text)
    {
        var cps = PyString.CodePoints(text);
        var words = new List<string>();
        var i = 0;
        while (i < cps.Length)
        {
            var length = MatchLiteral(cps, i, Specials) ?? MatchLiteral(cps, i, Contractions) ?? MatchClass(cps, i);
            if (length == 0)
            {
                i++; // whitespace: no alternative matches here
                continue;
            }
            words.Add(Slice(cps, i, length));
            i += length;
        }
        return words;
    }

    private static int? MatchLiteral(int[] cps, int start, string[] literals)
    {
        foreach (var literal in literals)
        {
            if (start + literal.Length > cps.Length) continue;
            var ok = true;
            for (var k = 0; k < literal.Length && ok; k++) ok = Fold(cps[start + k]) == char.ToLowerInvariant(literal[k]);
            if (ok) return literal.Length;
        }
        return null;
    }

    // [\p{L}]+ | [\p{N}] | [^\s\p{L}\p{N}]+ at start; 0 when the code point there is whitespace.
    private static int MatchClass(int[] cps, int start)
    {
        var kind = Kind(cps[start]);
        if (kind == CharKind.Space) return 0; // nothing matches: whitespace, U+0345
        if (kind == CharKind.Number) return 1;
        var end = start + 1;
        while (end < cps.Length && Kind(cps[end]) == kind) end++;
        return end - start;
    }

    private enum CharKind { Letter, Number, Space, Other }

    // The `regex` module carries its own (newer) Unicode tables, so .NET's categories are used here, not Python 3.11's.
    private static CharKind Kind(int cp)
    {
        // U+0345 (combining ypogegrammeni) case-folds to iota: under IGNORECASE it is outside [^\s\p{L}\p{N}] yet not
        // \p{L} either, so no alternative matches and findall skips it like whitespace.
        if (PyString.IsWhiteSpace(cp) || cp == 0x345) return CharKind.Space;
        return CharUnicodeInfo.GetUnicodeCategory(cp) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharKind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharKind.Number,
            _ => CharKind.Other,
        };
    }

    // Simple case folding for the ASCII letters of the literals (the text is already lower-cased).
    private static int Fold(int cp) => cp switch
    {
        >= 'A' and <= 'Z' => cp + 32,
        0x17F => 's',
        _ => cp,
    };

    private static string Slice(int[] cps, int start, int length)
    {
        var sb = new System.Text.StringBuilder(length);
        for (var k = start; k < start + length; k++) UnicodeNormalizer.AppendCodePoint(sb, cps[k]);
        return sb.ToString();
    }
}

/// <summary>GPT-2/CLIP bytes_to_unicode: each byte as a printable character, so BPE never sees spaces or controls.</summary>
internal static class ByteLevel
{
    public static readonly char[] Encoder = BuildEncoder();

    public static readonly Dictionary<char, byte> Decoder =
        Enumerable.Range(0, 256).ToDictionary(b => Encoder[b], b => (byte)b);

    private static char[] BuildEncoder()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            // Printable Latin-1 ('!'..'~', '¡'..'¬', '®'..'ÿ') maps to itself; the rest to U+0100 upwards in order.
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }
}
