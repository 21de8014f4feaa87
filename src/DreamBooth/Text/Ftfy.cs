// Mirrors ftfy 6.3.1 ftfy/__init__.py::fix_text / fix_and_explain / fix_encoding with the default TextFixerConfig
// (what transformers' CLIPTokenizer calls when the ftfy package is installed). Explanations are not produced.
namespace DreamBooth.Text;

/// <summary>ftfy ("fixes text for you") 6.3.1 <c>fix_text</c> with default settings.</summary>
public static class Ftfy
{
    // TextFixerConfig.max_decode_length: longest segment fixed in one go.
    private const int MaxDecodeLength = 1_000_000;

    /// <summary>
    /// ftfy.fix_text(text): per line, HTML entities (unless the text has a '&lt;'), mojibake, C1 controls, Latin
    /// ligatures, character width, curly quotes, line breaks, surrogates, terminal escapes, control characters, NFC.
    /// </summary>
    public static string FixText(string text)
    {
        var output = new System.Text.StringBuilder(text.Length);
        var unescapeHtml = true; // "auto" until a segment containing '<' switches it off for the rest of the text
        var pos = 0;
        while (pos < text.Length)
        {
            var end = text.IndexOf('\n', pos) + 1;
            if (end == 0) end = text.Length;
            if (end - pos > MaxDecodeLength)
            {
                end = pos + MaxDecodeLength;
                if (char.IsLowSurrogate(text[end]) && char.IsHighSurrogate(text[end - 1])) end--;
            }
            var segment = text[pos..end];
            if (unescapeHtml && segment.Contains('<')) unescapeHtml = false;
            output.Append(FixSegment(segment, unescapeHtml));
            pos = end;
        }
        return output.ToString();
    }

    // fix_and_explain: apply every fixer in order, repeatedly, until the text stops changing.
    private static string FixSegment(string text, bool unescapeHtml)
    {
        if (unescapeHtml && text.Contains('<')) unescapeHtml = false;
        while (true)
        {
            var original = text;
            if (unescapeHtml) text = FtfyFixes.UnescapeHtml(text);
            text = FixEncoding(text);
            text = FtfyFixes.FixC1Controls(text);
            text = FtfyFixes.FixLatinLigatures(text);
            text = FtfyFixes.FixCharacterWidth(text);
            text = FtfyFixes.UncurlQuotes(text);
            text = FtfyFixes.FixLineBreaks(text);
            text = FtfyFixes.FixSurrogates(text);
            text = FtfyFixes.RemoveTerminalEscapes(text);
            text = FtfyFixes.RemoveControlChars(text);
            text = UnicodeNormalizer.Nfc(text);
            if (text == original) return text;
        }
    }

    /// <summary>ftfy.fix_encoding: undo mojibake (UTF-8 read in a one-byte encoding), step by step until stable.</summary>
    public static string FixEncoding(string text)
    {
        while (true)
        {
            var previous = text;
            text = FixEncodingOneStep(text);
            if (text == previous) return text;
        }
    }

    private static string FixEncodingOneStep(string text)
    {
        // ASCII text, and text that does not look like mojibake, stays as it is.
        if (text.Length == 0 || text.All(c => c < 0x80) || !FtfyCharData.IsBad(text)) return text;

        // Most likely: UTF-8 that was decoded with a single-byte codec. Re-encode with each and decode as UTF-8.
        var latin1Possible = false;
        foreach (var codec in FtfyCodecs.CharmapEncodings)
        {
            if (!codec.CanEncode(text)) continue;
            if (codec.Name == "latin-1") latin1Possible = true;
            var bytes = codec.EncodeToByteString(text);
            // A space where byte A0 belonged (MacRoman excluded: en dash + space would match).
            if (codec.Name != "macroman" && FtfyCharData.AlteredUtf8.IsMatch(bytes))
                bytes = FtfyFixes.RestoreByteA0(bytes);
            if (codec.IsSloppy) bytes = FtfyFixes.ReplaceLossySequences(bytes);
            var fixedText = FtfyCodecs.DecodeUtf8Variants(bytes);
            if (fixedText is not null) return fixedText;
        }

        // Then UTF-8 mojibake embedded in text that is otherwise fine.
        if (FtfyCharData.Utf8Detector.IsMatch(text))
        {
            var fixedText = FtfyFixes.DecodeInconsistentUtf8(text);
            if (fixedText != text) return fixedText;
        }

        // Latin-1 meant as windows-1252. (ftfy tests for "windows-1252" among the possible encodings, a name its list
        // never holds, so this branch always runs when Latin-1 was possible.)
        if (latin1Possible)
        {
            var fixedText = FtfyCodecs.DecodeLatin1AsWindows1252(text);
            if (fixedText is not null && fixedText != text) return fixedText;
        }

        if (FtfyCharData.C1Control.IsMatch(text)) return FtfyFixes.FixC1Controls(text);
        return text;
    }
}
