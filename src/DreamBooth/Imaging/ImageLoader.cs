// Mirrors what diffusers' train_dreambooth.py does per file: PIL.Image.open → ImageOps.exif_transpose → convert("RGB").
namespace DreamBooth.Imaging;

using System.Runtime.InteropServices;
using SkiaSharp;

/// <summary>What the loader learned about a file besides its pixels (for check-data and for logging).</summary>
/// <param name="Format">"JPEG", "PNG", "WebP", "BMP" or "GIF".</param>
/// <param name="StoredWidth">Width as stored, before the EXIF orientation.</param>
/// <param name="Width">Width of the upright image (what training sees).</param>
/// <param name="Orientation">EXIF orientation 1..8 (1 = upright as stored).</param>
/// <param name="BitDepth">Bits per sample as stored (16 for 16-bit PNGs, else 8, or the JPEG precision).</param>
/// <param name="HasTransparency">Some pixel has alpha below 255: dropping alpha reveals the colour stored under it.</param>
/// <param name="FrameCount">Frames in an animated GIF/WebP (only the first is used); 1 otherwise.</param>
public sealed record ImageSourceInfo(
    string Path, string Format, long FileBytes,
    int StoredWidth, int StoredHeight, int Width, int Height, int Orientation,
    int BitDepth, bool Grayscale, bool Cmyk, bool HasAlphaChannel, bool HasTransparency, int FrameCount);

/// <summary>
/// Decodes JPEG, PNG, WebP, BMP and GIF (first frame) with SkiaSharp into an upright 8-bit <see cref="RgbImage"/>,
/// matching PIL's <c>exif_transpose</c> + <c>convert("RGB")</c> byte for byte on the formats we tested:
/// alpha is dropped (not composited), grayscale is replicated to three channels, CMYK JPEGs use the decoder's
/// naive CMYK→RGB (no ICC, as PIL), 16-bit samples keep their high byte (as PIL's "RGB;16B" unpacker).
/// One deliberate difference: PIL opens a 16-bit grayscale PNG as mode "I" and convert("RGB") clips it to 255,
/// making it almost white; we keep the high byte there too. Embedded ICC profiles are ignored, as PIL does.
/// Not matched: a GIF pixel with the transparent palette index decodes to black here, to its palette colour in PIL.
/// Every failure is a <see cref="DreamBoothException"/> naming the file and the reason in one line.
/// </summary>
public static class ImageLoader
{
    /// <summary>Extensions (lower case, with dot) of the files we decode; any other file is skipped by callers with a notice.</summary>
    public static IReadOnlyList<string> SupportedExtensions { get; } = [".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".gif"];

    /// <summary>PIL refuses images above twice its MAX_IMAGE_PIXELS (a decompression-bomb guard); so do we.</summary>
    public const long MaxPixels = 2L * 89_478_485;

    public static bool IsSupported(string path) =>
        SupportedExtensions.Contains(System.IO.Path.GetExtension(path).ToLowerInvariant());

    /// <summary>
    /// The supported image files directly in <paramref name="dir"/>; other entries go to <paramref name="skipped"/>
    /// for the caller to warn about.
    /// </summary>
    /// <param name="sorted">By name (ordinal); false keeps the directory's own order, as Python's <c>Path.iterdir()</c>.</param>
    public static IReadOnlyList<string> ListImages(string dir, out IReadOnlyList<string> skipped, bool sorted = true)
    {
        if (!Directory.Exists(dir)) throw new DreamBoothException($"{dir}: no such directory.");
        var images = new List<string>();
        var other = new List<string>();
        var entries = Directory.EnumerateFileSystemEntries(dir);
        foreach (var path in sorted ? entries.OrderBy(System.IO.Path.GetFileName, StringComparer.Ordinal) : entries)
            (File.Exists(path) && IsSupported(path) ? images : other).Add(path);
        skipped = other;
        return images;
    }

    public static RgbImage Load(string path) => Load(path, out _);

    public static RgbImage Load(string path, out ImageSourceInfo info)
    {
        byte[] bytes;
        try
        {
            bytes = DreamBooth.IO.BoundedFile.ReadAllBytes(path, DreamBooth.IO.BoundedFile.MaxImageBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DreamBoothException($"{path}: cannot read file ({e.Message.TrimEnd('.')}).");
        }
        return Decode(bytes, path, out info);
    }

    /// <summary>Decodes an in-memory file; <paramref name="name"/> is used in error messages and <see cref="ImageSourceInfo.Path"/>.</summary>
    public static RgbImage Decode(byte[] bytes, string name, out ImageSourceInfo info)
    {
        if (bytes.Length == 0) throw new DreamBoothException($"{name}: empty file (0 bytes).");
        var header = ImageHeader.Read(bytes);
        if (header.Format is not ("JPEG" or "PNG" or "WebP" or "BMP" or "GIF"))
        {
            var what = header.Format == "unknown" ? "not an image (unrecognised content)" : $"{header.Format} content is not supported";
            throw new DreamBoothException($"{name}: {what}; use JPEG, PNG, WebP, BMP or GIF.");
        }

        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data);
        if (codec is null) throw new DreamBoothException($"{name}: corrupt {header.Format} (the header cannot be decoded).");
        var (w, h) = (codec.Info.Width, codec.Info.Height);
        if (w <= 0 || h <= 0) throw new DreamBoothException($"{name}: corrupt {header.Format} (size {w}x{h}).");
        if ((long)w * h > MaxPixels) throw new DreamBoothException($"{name}: {w}x{h} is too large ({(long)w * h:N0} pixels, limit {MaxPixels:N0}).");

        // No colour space on the target: Skia then skips any ICC conversion, like PIL.
        var target = new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var rgba = new byte[(long)w * h * 4];
        SKCodecResult result;
        var pin = GCHandle.Alloc(rgba, GCHandleType.Pinned);
        try
        {
            result = codec.GetPixels(target, pin.AddrOfPinnedObject(), w * 4, new SKCodecOptions(0));
        }
        finally
        {
            pin.Free();
        }
        if (result != SKCodecResult.Success)
            throw new DreamBoothException($"{name}: {Reason(result, header.Format)}.");

        var stored = new RgbImage(w, h);
        var rgb = stored.Pixels;
        var transparent = false;
        for (long i = 0, j = 0; i < rgba.Length; i += 4, j += 3)
        {
            rgb[j] = rgba[i];
            rgb[j + 1] = rgba[i + 1];
            rgb[j + 2] = rgba[i + 2];
            transparent |= rgba[i + 3] != 255;
        }

        // Skia reads the orientation of JPEG and WebP; a PNG's eXIf chunk (which PIL honours) we read ourselves.
        var orientation = (int)codec.EncodedOrigin;
        if (orientation is < 1 or > 8) orientation = 1;
        if (orientation == 1) orientation = header.PngExifOrientation;
        var upright = ExifOrientation.Apply(stored, orientation);

        var grayscale = header.Grayscale || codec.Info.ColorType == SKColorType.Gray8;
        var hasAlpha = header.HasAlphaChannel || codec.Info.AlphaType != SKAlphaType.Opaque;
        info = new ImageSourceInfo(name, header.Format, bytes.Length, w, h, upright.Width, upright.Height, orientation,
            header.BitDepth, grayscale, header.Cmyk, hasAlpha, transparent, Math.Max(1, codec.FrameCount));
        return upright;
    }

    private static string Reason(SKCodecResult result, string format) => result switch
    {
        SKCodecResult.IncompleteInput => $"truncated {format} (the file ends before the image data does)",
        SKCodecResult.ErrorInInput => $"corrupt {format} image data",
        SKCodecResult.InvalidInput => $"invalid {format} data",
        SKCodecResult.InvalidConversion => $"{format} pixel format cannot be converted to RGB",
        SKCodecResult.Unimplemented => $"this {format} variant is not supported by the decoder",
        _ => $"{format} decoding failed ({result})",
    };
}
