// What PIL would call the image "mode", read from the file header (Skia decodes everything to 8-bit RGBA and hides it).
namespace DreamBooth.Imaging;

using System.Buffers.Binary;

/// <summary>
/// Facts from a file's first bytes that the decoder does not report: the container format (also for formats we cannot
/// decode, to name them in errors), JPEG sample precision and component count (1 gray, 3 colour, 4 CMYK/YCCK),
/// PNG bit depth, colour type and eXIf orientation.
/// </summary>
internal sealed record ImageHeader(string Format, int BitDepth, int Components, bool HasAlphaChannel, int PngExifOrientation)
{
    public bool Grayscale => Components is 1 or 2;

    public bool Cmyk => Format == "JPEG" && Components == 4;

    public static ImageHeader Read(ReadOnlySpan<byte> data)
    {
        var format = SniffFormat(data);
        return format switch
        {
            "JPEG" => ReadJpeg(data),
            "PNG" => ReadPng(data),
            _ => new ImageHeader(format, 8, 3, false, 1),
        };
    }

    /// <summary>The container named by its magic bytes, or "unknown".</summary>
    public static string SniffFormat(ReadOnlySpan<byte> d)
    {
        if (d.Length >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return "JPEG";
        if (d.Length >= 8 && d[..8].SequenceEqual((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A])) return "PNG";
        if (d.Length >= 12 && Ascii(d, 0, "RIFF") && Ascii(d, 8, "WEBP")) return "WebP";
        if (d.Length >= 6 && (Ascii(d, 0, "GIF87a") || Ascii(d, 0, "GIF89a"))) return "GIF";
        if (d.Length >= 2 && Ascii(d, 0, "BM")) return "BMP";
        if (d.Length >= 4 && (Ascii(d, 0, "II*\0") || Ascii(d, 0, "MM\0*"))) return "TIFF";
        if (d.Length >= 12 && Ascii(d, 4, "ftyp"))
        {
            if (Ascii(d, 8, "avif") || Ascii(d, 8, "avis")) return "AVIF";
            if (Ascii(d, 8, "heic") || Ascii(d, 8, "heix") || Ascii(d, 8, "mif1") || Ascii(d, 8, "msf1")) return "HEIF";
            return "MP4/QuickTime";
        }
        if (d.Length >= 2 && d[0] == 0xFF && d[1] == 0x0A) return "JPEG XL";
        if (d.Length >= 12 && Ascii(d, 4, "JXL ")) return "JPEG XL";
        if (d.Length >= 4 && Ascii(d, 0, "%PDF")) return "PDF";
        if (d.Length >= 4 && Ascii(d, 0, "8BPS")) return "Photoshop PSD";
        if (d.Length >= 4 && d[0] == 0 && d[1] == 0 && d[2] == 1 && d[3] == 0) return "ICO";
        return "unknown";
    }

    private static bool Ascii(ReadOnlySpan<byte> d, int at, string s)
    {
        for (var i = 0; i < s.Length; i++)
            if (d[at + i] != s[i]) return false;
        return true;
    }

    private static ImageHeader ReadJpeg(ReadOnlySpan<byte> d)
    {
        var i = 2;
        while (i + 4 <= d.Length)
        {
            if (d[i] != 0xFF) { i++; continue; } // tolerate fill bytes between segments
            var marker = d[i + 1];
            if (marker == 0xFF) { i++; continue; }
            if (marker is 0xD8 or 0x01 || marker is >= 0xD0 and <= 0xD7) { i += 2; continue; } // no length field
            if (marker is 0xD9 or 0xDA) break; // end of image / start of scan: no SOF before it
            var length = BinaryPrimitives.ReadUInt16BigEndian(d[(i + 2)..]);
            // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
            if (marker is >= 0xC0 and <= 0xCF && marker is not (0xC4 or 0xC8 or 0xCC) && i + 10 <= d.Length)
                return new ImageHeader("JPEG", d[i + 4], d[i + 9], false, 1);
            i += 2 + length;
        }
        return new ImageHeader("JPEG", 8, 3, false, 1);
    }

    private static ImageHeader ReadPng(ReadOnlySpan<byte> d)
    {
        int bitDepth = 8, colourType = 2, orientation = 1;
        var hasTrns = false;
        var i = 8;
        while (i + 12 <= d.Length)
        {
            var length = BinaryPrimitives.ReadUInt32BigEndian(d[i..]);
            if (length > int.MaxValue || i + 12 + (long)length > d.Length) break;
            var type = d.Slice(i + 4, 4);
            var body = d.Slice(i + 8, (int)length);
            if (Ascii(type, 0, "IHDR") && body.Length >= 13)
            {
                bitDepth = body[8];
                colourType = body[9];
            }
            else if (Ascii(type, 0, "tRNS")) hasTrns = true;
            else if (Ascii(type, 0, "eXIf")) orientation = ExifOrientation.ReadFromTiff(body);
            else if (Ascii(type, 0, "IDAT") || Ascii(type, 0, "IEND")) break;
            i += 12 + (int)length;
        }
        // Colour types: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
        var components = colourType switch { 0 => 1, 4 => 2, 6 => 4, _ => 3 };
        return new ImageHeader("PNG", bitDepth, components, colourType is 4 or 6 || hasTrns, orientation);
    }
}
