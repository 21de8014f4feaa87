// Mirrors ftfy 6.3.1 ftfy/bad_codecs (sloppy single-byte codecs, "utf-8-variants") and the strict single-byte
// codecs of CPython that ftfy.chardata.CHARMAP_ENCODINGS names.
using System.Text;

namespace DreamBooth.Text;

/// <summary>A single-byte charmap codec: ASCII below 0x80 (except byte 0x1A in the sloppy ones) plus a table above.</summary>
internal sealed class SingleByteCodec
{
    private readonly char[] decode = new char[256];
    private readonly Dictionary<char, byte> encode = new();

    public SingleByteCodec(string name, string high)
    {
        Name = name;
        for (var b = 0; b < 0x80; b++) decode[b] = (char)b;
        // ftfy's sloppy codecs spend byte 0x1A on U+FFFD, marking bytes a previous decoder had already lost.
        if (IsSloppy) decode[0x1A] = '\uFFFD';
        for (var b = 0; b < 0x80; b++) decode[0x80 + b] = high[b];
        for (var b = 0; b < 256; b++) encode[decode[b]] = (byte)b;
    }

    public string Name { get; }

    public bool IsSloppy => Name.StartsWith("sloppy", StringComparison.Ordinal);

    /// <summary>chardata.possible_encoding: every char of <paramref name="text"/> is one this codec can encode.</summary>
    public bool CanEncode(string text)
    {
        foreach (var c in text)
            if (!encode.ContainsKey(c)) return false;
        return true;
    }

    /// <summary>Encodes text known to pass <see cref="CanEncode"/>, as a byte string.</summary>
    public string EncodeToByteString(string text)
    {
        var chars = new char[text.Length];
        for (var i = 0; i < text.Length; i++) chars[i] = (char)encode[text[i]];
        return new string(chars);
    }

    public char Decode(byte b) => decode[b];
}

internal static class FtfyCodecs
{
    /// <summary>chardata.CHARMAP_ENCODINGS in the order fix_encoding tries them.</summary>
    public static readonly SingleByteCodec[] CharmapEncodings =
        [.. FtfyData.CharmapEncodings.Select(e => new SingleByteCodec(e.Name, e.High))];

    public static readonly SingleByteCodec SloppyWindows1252 = CharmapEncodings.Single(c => c.Name == "sloppy-windows-1252");

    /// <summary>Python's strict windows-1252 decoder applied to a Latin-1 string; null where a byte is undefined.</summary>
    public static string? DecodeLatin1AsWindows1252(string latin1)
    {
        var sb = new StringBuilder(latin1.Length);
        foreach (var c in latin1)
        {
            if (Array.IndexOf(FtfyData.Windows1252Undefined, (byte)c) >= 0) return null;
            sb.Append(SloppyWindows1252.Decode((byte)c));
        }
        return sb.ToString();
    }

    /// <summary>
    /// ftfy's "utf-8-variants" decoder (strict UTF-8 that also accepts CESU-8 surrogate pairs and Java's C0 80 for
    /// U+0000), applied to a byte string; null where Python would raise UnicodeDecodeError.
    /// </summary>
    public static string? DecodeUtf8Variants(string bytes)
    {
        var sb = new StringBuilder(bytes.Length);
        var n = bytes.Length;
        var i = 0;
        while (i < n)
        {
            int b0 = bytes[i];
            if (b0 < 0x80)
            {
                sb.Append((char)b0);
                i++;
                continue;
            }
            if (b0 == 0xC0)
            {
                // Python's bytes regex `\xc0(\x80|$)` also accepts C0 before a final newline, and eats that newline.
                if (i + 1 < n && (bytes[i + 1] == 0x80 || (bytes[i + 1] == 0x0A && i + 2 == n)))
                {
                    sb.Append('\0');
                    i += 2;
                    continue;
                }
                return null;
            }
            if (b0 == 0xED && i + 5 < n && bytes[i + 1] is >= '\xa0' and <= '\xaf' && IsCont(bytes[i + 2])
                && bytes[i + 3] == 0xED && bytes[i + 4] is >= '\xb0' and <= '\xbf' && IsCont(bytes[i + 5]))
            {
                var cp = ((bytes[i + 1] & 0x0F) << 16) + ((bytes[i + 2] & 0x3F) << 10) + ((bytes[i + 4] & 0x0F) << 6)
                    + (bytes[i + 5] & 0x3F) + 0x10000;
                sb.Append(char.ConvertFromUtf32(cp));
                i += 6;
                continue;
            }
            var len = Utf8SequenceLength(bytes, i);
            if (len == 0) return null;
            var value = len switch
            {
                2 => ((b0 & 0x1F) << 6) | (bytes[i + 1] & 0x3F),
                3 => ((b0 & 0x0F) << 12) | ((bytes[i + 1] & 0x3F) << 6) | (bytes[i + 2] & 0x3F),
                _ => ((b0 & 0x07) << 18) | ((bytes[i + 1] & 0x3F) << 12) | ((bytes[i + 2] & 0x3F) << 6) | (bytes[i + 3] & 0x3F),
            };
            UnicodeNormalizer.AppendCodePoint(sb, value);
            i += len;
        }
        return sb.ToString();
    }

    // Length of the well-formed UTF-8 sequence at i (Unicode Table 3-7), or 0 if it is not well formed.
    private static int Utf8SequenceLength(string bytes, int i)
    {
        int b0 = bytes[i];
        var n = bytes.Length;
        if (b0 is >= 0xC2 and <= 0xDF) return i + 1 < n && IsCont(bytes[i + 1]) ? 2 : 0;
        if (b0 is >= 0xE0 and <= 0xEF)
        {
            if (i + 2 >= n) return 0;
            int b1 = bytes[i + 1];
            var ok = b0 switch
            {
                0xE0 => b1 is >= 0xA0 and <= 0xBF,
                0xED => b1 is >= 0x80 and <= 0x9F,
                _ => IsCont((char)b1),
            };
            return ok && IsCont(bytes[i + 2]) ? 3 : 0;
        }
        if (b0 is >= 0xF0 and <= 0xF4)
        {
            if (i + 3 >= n) return 0;
            int b1 = bytes[i + 1];
            var ok = b0 switch
            {
                0xF0 => b1 is >= 0x90 and <= 0xBF,
                0xF4 => b1 is >= 0x80 and <= 0x8F,
                _ => IsCont((char)b1),
            };
            return ok && IsCont(bytes[i + 2]) && IsCont(bytes[i + 3]) ? 4 : 0;
        }
        return 0;
    }

    private static bool IsCont(char b) => b is >= '\x80' and <= '\xbf';
}
