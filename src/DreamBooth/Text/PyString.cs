// Python 3.11 str semantics the CLIP tokenizer depends on (str.isspace/strip/split/lower, unicodedata.category).
using System.Globalization;
using System.Text;

namespace DreamBooth.Text;

/// <summary>Python <c>str</c> operations with Python's exact character sets, so normalised text matches the reference.</summary>
public static partial class PyString
{
    private static readonly Lazy<(int First, int Last)[]> Unassigned = new(() =>
    [
        .. Unicode14Unassigned.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(r => r.Split(' '))
            .Select(f => (int.Parse(f[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture),
                int.Parse(f[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture))),
    ]);

    /// <summary>Python <c>str.isspace()</c> for one code point (bidi WS/B/S or category Zs; includes U+001C..U+001F).</summary>
    public static bool IsSpace(int cp) =>
        cp is (>= 0x09 and <= 0x0D) or (>= 0x1C and <= 0x20) or 0x85 or 0xA0 or 0x1680 or (>= 0x2000 and <= 0x200A)
            or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    /// <summary>The Unicode White_Space property (what the <c>regex</c> module's <c>\s</c> matches).</summary>
    public static bool IsWhiteSpace(int cp) => IsSpace(cp) && cp is not (>= 0x1C and <= 0x1F);

    /// <summary>
    /// unicodedata.category of Python 3.11 as a .NET category: code points that Unicode 14.0 had not assigned yet are
    /// <see cref="UnicodeCategory.OtherNotAssigned"/> even where .NET's newer data knows them (e.g. Unicode 15 emoji).
    /// </summary>
    public static UnicodeCategory Category(int cp) =>
        IsUnassignedInUnicode14(cp) ? UnicodeCategory.OtherNotAssigned : CharUnicodeInfo.GetUnicodeCategory(cp);

    private static bool IsUnassignedInUnicode14(int cp)
    {
        var ranges = Unassigned.Value;
        int lo = 0, hi = ranges.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >> 1;
            if (cp < ranges[mid].First) hi = mid - 1;
            else if (cp > ranges[mid].Last) lo = mid + 1;
            else return true;
        }
        return false;
    }

    /// <summary>Code points as Python sees them: a valid pair is one code point, a lone surrogate is kept as itself.</summary>
    public static int[] CodePoints(string s)
    {
        var result = new List<int>(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                result.Add(char.ConvertToUtf32(s[i], s[++i]));
            else
                result.Add(s[i]);
        }
        return [.. result];
    }

    /// <summary>Python <c>str.strip()</c> (or <c>lstrip()</c> / <c>rstrip()</c> when one side is off).</summary>
    public static string Strip(string s, bool left = true, bool right = true)
    {
        int start = 0, end = s.Length;
        while (left && start < end && IsSpace(s[start])) start++;
        while (right && end > start && IsSpace(s[end - 1])) end--;
        return s[start..end];
    }

    /// <summary>Python <c>str.split()</c> (runs of whitespace separate, no empty pieces).</summary>
    public static List<string> Split(string s)
    {
        var parts = new List<string>();
        var start = -1;
        for (var i = 0; i <= s.Length; i++)
        {
            var space = i == s.Length || IsSpace(s[i]);
            if (space && start >= 0)
            {
                parts.Add(s[start..i]);
                start = -1;
            }
            else if (!space && start < 0) start = i;
        }
        return parts;
    }

    /// <summary>
    /// Python <c>str.lower()</c>: the full lower-case mapping (U+0130 becomes "i" + U+0307) and the Final_Sigma rule
    /// (capital sigma ending a word becomes U+03C2); everything else uses the simple mapping.
    /// </summary>
    public static string Lower(string s)
    {
        var onlyAscii = true;
        foreach (var c in s)
            if (c >= 0x80) { onlyAscii = false; break; }
        if (onlyAscii) return s.ToLowerInvariant();

        var cps = CodePoints(s);
        var sb = new StringBuilder(s.Length);
        for (var i = 0; i < cps.Length; i++)
        {
            var cp = cps[i];
            if (cp == 0x130) sb.Append("i\u0307");
            else if (cp == 0x3A3) sb.Append(IsFinalSigma(cps, i) ? '\u03C2' : '\u03C3');
            else if (cp is >= 0xD800 and <= 0xDFFF) sb.Append((char)cp);
            else UnicodeNormalizer.AppendCodePoint(sb, Rune.ToLowerInvariant(new Rune(cp)).Value);
        }
        return sb.ToString();
    }

    // Final_Sigma: preceded by a cased letter (skipping case-ignorables) and not followed by one.
    private static bool IsFinalSigma(int[] cps, int i)
    {
        var j = i - 1;
        while (j >= 0 && IsCaseIgnorable(cps[j])) j--;
        if (j < 0 || !IsCased(cps[j])) return false;
        j = i + 1;
        while (j < cps.Length && IsCaseIgnorable(cps[j])) j++;
        return j == cps.Length || !IsCased(cps[j]);
    }

    // Unicode "Cased": Lu, Ll, Lt plus the Other_Lowercase / Other_Uppercase letters and symbols.
    private static bool IsCased(int cp) =>
        Category(cp) is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
        || cp is 0xAA or 0xBA or (>= 0x2B0 and <= 0x2B8) or 0x2C0 or 0x2C1 or (>= 0x2E0 and <= 0x2E4) or 0x345 or 0x37A
            or (>= 0x1D2C and <= 0x1D6A) or 0x1D78 or (>= 0x1D9B and <= 0x1DBF) or 0x2071 or 0x207F
            or (>= 0x2090 and <= 0x209C) or (>= 0x2160 and <= 0x217F) or (>= 0x24B6 and <= 0x24E9);

    // Unicode "Case_Ignorable": Mn, Me, Cf, Lm, Sk and the word-internal punctuation of UAX #29.
    private static bool IsCaseIgnorable(int cp) =>
        Category(cp) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
            or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol
        || cp is 0x27 or 0x2E or 0x3A or 0xB7 or 0x387 or 0x55F or 0x5F4 or 0x2018 or 0x2019 or 0x2024 or 0x2027
            or 0xFE13 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A;
}
