// Mirrors transformers src/transformers/models/bert/tokenization_bert.py::BasicTokenizer (v4.39.3) as CLIPTokenizer
// builds it when ftfy is missing: BasicTokenizer(strip_accents=False, do_split_on_punc=False), lower-casing on.
using System.Globalization;
using System.Text;
using DreamBooth.Text;

namespace DreamBooth.Models.Clip;

/// <summary>The ftfy-less pre-normalisation of transformers' CLIPTokenizer (<see cref="TextNormalization.Plain"/>).</summary>
public static class BasicTokenizer
{
    /// <summary>
    /// <c>" ".join(BasicTokenizer(strip_accents=False, do_split_on_punc=False).tokenize(text))</c>: drops NUL, U+FFFD,
    /// control and format characters, maps whitespace to spaces, isolates CJK ideographs, NFC, lower-cases.
    /// </summary>
    public static string Normalize(string text)
    {
        var cleaned = new StringBuilder(text.Length + 8);
        foreach (var cp in PyString.CodePoints(text))
        {
            if (cp == 0 || cp == 0xFFFD || IsControl(cp)) continue;
            if (IsWhitespace(cp)) cleaned.Append(' ');
            else if (IsChineseChar(cp)) cleaned.Append(' ').Append(char.ConvertFromUtf32(cp)).Append(' ');
            else UnicodeNormalizer.AppendCodePoint(cleaned, cp);
        }
        var normalized = UnicodeNormalizer.Nfc(cleaned.ToString());
        // Python splits on str.isspace (so U+2028/U+2029, kept above, still separate words), then lower-cases each word.
        return string.Join(' ', PyString.Split(normalized).Select(PyString.Lower));
    }

    // _is_whitespace: the four ASCII blanks and category Zs.
    private static bool IsWhitespace(int cp) =>
        cp is ' ' or '\t' or '\n' or '\r' || PyString.Category(cp) == UnicodeCategory.SpaceSeparator;

    // _is_control: any category C* (Cc, Cf, Cs, Co, Cn) except \t \n \r, which count as whitespace.
    private static bool IsControl(int cp)
    {
        if (cp is '\t' or '\n' or '\r') return false;
        return PyString.Category(cp) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate
            or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    // _is_chinese_char: the CJK Unified Ideographs blocks (not kana or Hangul, which are space-separated scripts).
    private static bool IsChineseChar(int cp) =>
        cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF)
            or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF)
            or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);
}
