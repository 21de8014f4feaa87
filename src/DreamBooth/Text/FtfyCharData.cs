// Mirrors ftfy 6.3.1 ftfy/chardata.py and ftfy/badness.py: the character classes, translation tables and regexes
// that fix_text uses. The character lists are generated data (FtfyData.g.cs); the patterns are written out here.
using System.Globalization;
using System.Text.RegularExpressions;

namespace DreamBooth.Text;

internal static class FtfyCharData
{
    // Python's `re` meaning of \s and \w in str patterns (not .NET's: \s includes U+001C..U+001F, \w has no marks),
    // and of '.', which consumes a whole astral code point.
    private const string PySpace = @"[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
    private const string PyWord = @"[\p{L}\p{N}_]";
    private const string PyDot = @"(?:[\ud800-\udbff][\udc00-\udfff]|[^\n])";

    internal static readonly Regex SingleQuote = new(@"[\u02bc\u2018-\u201b]", RegexOptions.CultureInvariant);
    internal static readonly Regex DoubleQuote = new(@"[\u201c-\u201f]", RegexOptions.CultureInvariant);
    internal static readonly Regex HtmlEntity = new("&#?[0-9A-Za-z]{1,24};", RegexOptions.CultureInvariant);
    internal static readonly Regex C1Control = new(@"[\x80-\x9f]", RegexOptions.CultureInvariant);
    internal static readonly Regex AnsiEscape = new(@"\x1b\[((?:\d|;)*)([a-zA-Z])", RegexOptions.CultureInvariant);

    // Byte patterns; they run on "byte strings" where each char holds one byte (see SingleByteCodec.EncodeToByteString).
    internal static readonly Regex AlteredUtf8 = new(
        @"[\xc2\xc3\xc5\xce\xd0\xd9][ ]"
        + @"|[\xe2\xe3][ ][\x80-\x84\x86-\x9f\xa1-\xbf]"
        + @"|[\xe0-\xe3][\x80-\x84\x86-\x9f\xa1-\xbf][ ]"
        + @"|[\xf0][ ][\x80-\xbf][\x80-\xbf]"
        + @"|[\xf0][\x80-\xbf][ ][\x80-\xbf]"
        + @"|[\xf0][\x80-\xbf][\x80-\xbf][ ]", RegexOptions.CultureInvariant);

    internal static readonly Regex LossyUtf8 = new(
        @"[\xc2-\xdf][\x1a]"
        + @"|[\xc2-\xc3][?]"
        + @"|\xed[\xa0-\xaf][\x1a?]\xed[\xb0-\xbf][\x1a?\x80-\xbf]"
        + @"|\xed[\xa0-\xaf][\x1a?\x80-\xbf]\xed[\xb0-\xbf][\x1a?]"
        + @"|[\xe0-\xef][\x1a?][\x1a\x80-\xbf]"
        + @"|[\xe0-\xef][\x1a\x80-\xbf][\x1a?]"
        + @"|[\xf0-\xf4][\x1a?][\x1a\x80-\xbf][\x1a\x80-\xbf]"
        + @"|[\xf0-\xf4][\x1a\x80-\xbf][\x1a?][\x1a\x80-\xbf]"
        + @"|[\xf0-\xf4][\x1a\x80-\xbf][\x1a\x80-\xbf][\x1a?]"
        + @"|\x1a", RegexOptions.CultureInvariant);

    // "Ã " standing alone is usually "à" whose U+00A0 became a space; keep the space (Portuguese "às", "àquele" aside).
    internal static readonly Regex AGraveWord = new(@"\xc3 (?! |quele|quela|quilo|s )", RegexOptions.CultureInvariant);

    // Sequences that look like UTF-8 decoded in a one-byte encoding, not preceded by another likely continuation.
    internal static readonly Regex Utf8Detector = new(
        $"(?<![{Cls(FtfyData.Utf8ContinuationStrict)}])(?:"
        + $"[{Cls(FtfyData.Utf8FirstOf2)}][{Cls(FtfyData.Utf8Continuation)}]"
        + $"|[{Cls(FtfyData.Utf8FirstOf3)}][{Cls(FtfyData.Utf8Continuation)}]{{2}}"
        + $"|[{Cls(FtfyData.Utf8FirstOf4)}][{Cls(FtfyData.Utf8Continuation)}]{{3}})+", RegexOptions.CultureInvariant);

    internal static readonly Regex Badness = BuildBadness();

    internal static readonly IReadOnlyDictionary<int, string> Ligatures = new Dictionary<int, string>
    {
        [0x132] = "IJ", [0x133] = "ij", [0x149] = "\u02BCn",                      // Dutch; Afrikaans 'n
        [0x1F1] = "DZ", [0x1F2] = "Dz", [0x1F3] = "dz",                            // digraphs made for transliteration
        [0x1C4] = "D\u017D", [0x1C5] = "D\u017E", [0x1C6] = "d\u017E",
        [0x1C7] = "LJ", [0x1C8] = "Lj", [0x1C9] = "lj",
        [0x1CA] = "NJ", [0x1CB] = "Nj", [0x1CC] = "nj",
        [0xFB00] = "ff", [0xFB01] = "fi", [0xFB02] = "fl", [0xFB03] = "ffi",       // typographic ligatures
        [0xFB04] = "ffl", [0xFB05] = "\u017Ft", [0xFB06] = "st",
    };

    internal static readonly IReadOnlyDictionary<int, string> WidthMap = ParseCodePointMap(FtfyData.WidthMap);

    internal static readonly Lazy<Dictionary<string, string>> HtmlEntities = new(() =>
        FtfyData.HtmlEntities.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('\t'))
            .ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal));

    internal static readonly IReadOnlyDictionary<int, string> InvalidCharrefs = ParseCodePointMap(FtfyData.InvalidCharrefs);

    internal static readonly HashSet<int> InvalidCodepoints =
        [.. FtfyData.InvalidCodepoints.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(Hex)];

    /// <summary>Control characters remove_control_chars drops (C0 except whitespace, DEL, deprecated format chars, BOM...).</summary>
    internal static bool IsRemovableControl(int cp) =>
        cp is (>= 0x00 and <= 0x08) or 0x0B or (>= 0x0E and <= 0x1F) or 0x7F or (>= 0x206A and <= 0x206F) or 0xFEFF
            or (>= 0xFFF9 and <= 0xFFFC);

    internal static bool IsBad(string text) => Badness.IsMatch(text);

    private static Regex BuildBadness()
    {
        string common = Cls(FtfyData.Common), c1 = Cls(FtfyData.C1), bad = Cls(FtfyData.Bad), law = Cls(FtfyData.Law);
        string currency = Cls(FtfyData.Currency), startPunct = Cls(FtfyData.StartPunctuation);
        string endPunct = Cls(FtfyData.EndPunctuation), numeric = Cls(FtfyData.Numeric), kaomoji = Cls(FtfyData.Kaomoji);
        string upperAcc = Cls(FtfyData.UpperAccented), lowerAcc = Cls(FtfyData.LowerAccented);
        string upperCommon = Cls(FtfyData.UpperCommon), lowerCommon = Cls(FtfyData.LowerCommon), box = Cls(FtfyData.Box);
        var arabic = $@"[\u00d8\u00d9][{common}{currency}{bad}{numeric}{startPunct}\u0178\u0160\u00ae\u00b0\u00b5\u00bb]";
        string[] alternatives =
        [
            $"[{c1}]",
            $"[{bad}{lowerAcc}{upperAcc}{box}{startPunct}{endPunct}{currency}{numeric}{law}][{bad}]",
            $"[a-zA-Z][{lowerCommon}{upperCommon}][{bad}]",
            $"[{bad}][{lowerAcc}{upperAcc}{box}{startPunct}{endPunct}{currency}{numeric}{law}]",
            $"[{lowerAcc}{lowerCommon}{box}{endPunct}{currency}{numeric}][{upperAcc}]",
            $"[{box}{endPunct}{currency}{numeric}][{lowerAcc}]",
            $"[{lowerAcc}{box}{endPunct}][{currency}]",
            $"{PySpace}[{upperAcc}][{currency}]",
            $"[{upperAcc}{box}][{numeric}{law}]",
            $"[{lowerAcc}{upperAcc}{box}{currency}{endPunct}][{startPunct}][{numeric}]",
            $"[{lowerAcc}{upperAcc}{currency}{numeric}{box}{law}][{endPunct}][{startPunct}]",
            $"[{currency}{numeric}{box}][{startPunct}]",
            $"[a-z][{upperAcc}][{startPunct}{currency}]",
            $"[{box}][{kaomoji}]",
            $"[{lowerAcc}{upperAcc}{currency}{numeric}{startPunct}{endPunct}{law}][{box}]",
            $"[{box}][{endPunct}]",
            $"[{lowerAcc}{upperAcc}][{startPunct}{endPunct}]{PyWord}",
            @"[\u0152\u0153][^A-Za-z]",                                               // œ not before a Latin letter
            $@"[{upperAcc}]\u00b0",                                                   // degree sign after a capital
            $@"[\u00c2\u00c3\u00ce\u00d0][\u20ac\u0153\u0160\u0161\u00a2\u00a3\u0178\u017e\xa0\xad\u00ae\u00a9\u00b0"
                + $@"\u00b7\u00bb{startPunct}{endPunct}\u2013\u2014\u00b4]",           // common windows-1252 pairs
            @"\u00d7[\u00b2\u00b3]",
            arabic + arabic,                                                          // windows-1252 Arabic: 4 chars
            @"\u00e0[\u00b2\u00b5\u00b9\u00bc\u00bd\u00be]",                          // South Asian scripts
            @"\u221a[\u00b1\u2202\u2020\u2260\u00ae\u2122\u00b4\u2264\u2265\u00a5\u00b5\u00f8]", // MacRoman
            @"\u2248[\u00b0\u00a2]",
            @"\u201a\u00c4[\u00ec\u00ee\u00ef\u00f2\u00f4\u00fa\u00f9\u00fb\u2020\u00b0\u00a2\u03c0]",
            @"\u201a[\u00e2\u00f3][\u00e0\u00e4\u00b0\u00ea]",
            @"\u0432\u0402",                                                          // windows-1251, U+2000 block
            $@"[\u0412\u0413\u0420\u0421][{c1}{bad}{startPunct}{endPunct}{currency}\u00b0\u00b5][\u0412\u0413\u0420\u0421]",
            $@"\u0413\u045e\u0412\u0402\u0412{PyDot}[A-Za-z ]",                       // 1251 over 1252 mojibake
            @"\u00c3[\xa0\u00a1]",                                                    // à, á and U+00A0 itself
            $@"[a-z]{PySpace}?[\u00c3\u00c2][ ]",
            @"^[\u00c3\u00c2][ ]",
            $@"[a-z.,?!{endPunct}]\u00c2[ {startPunct}{endPunct}]",                   // Â before what it encoded
            @"\u03b2\u20ac[\u2122\xa0\u0386\xad\u00ae\u00b0]",                        // windows-1253, U+2000 block
            $@"[\u0392\u0393\u039e\u039f][{c1}{bad}{startPunct}{endPunct}{currency}\u00b0][\u0392\u0393\u039e\u039f]",
            @"\u0101\u20ac",                                                          // windows-1257, U+2000 block
        ];
        return new Regex(string.Join("|", alternatives), RegexOptions.CultureInvariant);
    }

    /// <summary>Character-class content for a generated category: every char escaped, '-' kept as the range marker.</summary>
    private static string Cls(string raw) =>
        string.Concat(raw.Select(c => c == '-' ? "-" : "\\u" + ((int)c).ToString("X4", CultureInfo.InvariantCulture)));

    private static Dictionary<int, string> ParseCodePointMap(string data)
    {
        var map = new Dictionary<int, string>();
        foreach (var entry in data.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = entry.IndexOf(':');
            var value = entry[(colon + 1)..];
            var chars = new System.Text.StringBuilder();
            for (var i = 0; i < value.Length; i += 4)
                chars.Append((char)Hex(value.Substring(i, 4)));
            map[Hex(entry[..colon])] = chars.ToString();
        }
        return map;
    }

    private static int Hex(string s) => int.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
}
