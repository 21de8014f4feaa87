namespace DreamBooth.Tests.Imaging;

using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using DreamBooth.Imaging;
using SkiaSharp;

/// <summary>Builds test images in memory: Skia encodes for JPEG/PNG/WebP, hand-written bytes for what Skia cannot write.</summary>
internal static class TestImages
{
    /// <summary>Deterministic pattern with distinct values per pixel and channel.</summary>
    public static RgbImage Pattern(int width, int height)
    {
        var image = new RgbImage(width, height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
                for (var c = 0; c < 3; c++)
                    image.Pixels[(y * width + x) * 3 + c] = (byte)((x * x * 3 + y * 7 + c * 85 + x * y) % 256);
        return image;
    }

    /// <summary>Smooth random blobs (a 6×6 random grid upscaled) plus light noise: photo-like, distinct per seed.</summary>
    public static RgbImage Blobs(int width, int height, int seed, int noise = 6)
    {
        var rng = new Random(seed);
        var grid = new RgbImage(6, 6);
        rng.NextBytes(grid.Pixels);
        var image = PilResize.Bilinear(grid, width, height);
        for (var i = 0; i < image.Pixels.Length; i++)
            image.Pixels[i] = (byte)Math.Clamp(image.Pixels[i] + rng.Next(-noise, noise + 1), 0, 255);
        return image;
    }

    /// <summary>Four flat quadrants: top-left red, top-right green, bottom-left blue, bottom-right white.</summary>
    public static RgbImage Quadrants(int width, int height)
    {
        var image = new RgbImage(width, height);
        for (var y = 0; y < height; y++)
            for (var x = 0; x < width; x++)
            {
                var (r, g, b) = (x < width / 2, y < height / 2) switch
                {
                    (true, true) => ((byte)255, (byte)0, (byte)0),
                    (false, true) => ((byte)0, (byte)255, (byte)0),
                    (true, false) => ((byte)0, (byte)0, (byte)255),
                    _ => ((byte)255, (byte)255, (byte)255),
                };
                image.SetPixel(x, y, r, g, b);
            }
        return image;
    }

    public static byte[] Encode(RgbImage image, SKEncodedImageFormat format, int quality = 95)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        var rgba = new byte[image.Width * image.Height * 4];
        for (var i = 0; i < image.Width * image.Height; i++)
        {
            rgba[i * 4] = image.Pixels[i * 3];
            rgba[i * 4 + 1] = image.Pixels[i * 3 + 1];
            rgba[i * 4 + 2] = image.Pixels[i * 3 + 2];
            rgba[i * 4 + 3] = 255;
        }
        Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
        using var data = bitmap.Encode(format, quality);
        return data.ToArray();
    }

    public static byte[] Jpeg(RgbImage image, int quality = 95) => Encode(image, SKEncodedImageFormat.Jpeg, quality);

    /// <summary>A 1-component (grayscale) JPEG via Skia's Gray8 encoding.</summary>
    public static byte[] GrayJpeg(byte[] gray, int width, int height)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque));
        Marshal.Copy(gray, 0, bitmap.GetPixels(), gray.Length);
        using var data = bitmap.Encode(SKEncodedImageFormat.Jpeg, 95);
        return data.ToArray();
    }

    /// <summary>Inserts a minimal APP1 Exif segment (big-endian TIFF, IFD0 with only the Orientation tag) after SOI.</summary>
    public static byte[] WithExifOrientation(byte[] jpeg, int orientation)
    {
        var tiff = ExifTiff(orientation);
        var app1 = new List<byte> { 0xFF, 0xE1 };
        var length = 2 + 6 + tiff.Length;
        app1.Add((byte)(length >> 8));
        app1.Add((byte)length);
        app1.AddRange("Exif\0\0"u8.ToArray());
        app1.AddRange(tiff);
        return [.. jpeg[..2], .. app1, .. jpeg[2..]];
    }

    /// <summary>TIFF header + one IFD entry 0x0112 SHORT = orientation.</summary>
    public static byte[] ExifTiff(int orientation) =>
    [
        (byte)'M', (byte)'M', 0, 42, 0, 0, 0, 8, // big endian, magic, IFD0 at 8
        0, 1, // one entry
        0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, (byte)orientation, 0, 0, // tag, SHORT, count 1, value
        0, 0, 0, 0, // no next IFD
    ];

    /// <summary>
    /// A PNG written by hand: samples are big-endian for 16-bit depth, every row uses filter 0, extra chunks go
    /// between IHDR and IDAT.
    /// </summary>
    public static byte[] HandPng(int width, int height, int bitDepth, int colourType, int[] samples, params (string Type, byte[] Data)[] extra)
    {
        var channels = colourType switch { 0 => 1, 2 => 3, 4 => 2, 6 => 4, _ => throw new ArgumentException("colour type") };
        var bytesPerSample = bitDepth / 8;
        using var raw = new MemoryStream();
        for (var y = 0; y < height; y++)
        {
            raw.WriteByte(0);
            for (var i = 0; i < width * channels; i++)
            {
                var v = samples[y * width * channels + i];
                if (bytesPerSample == 2) raw.WriteByte((byte)(v >> 8));
                raw.WriteByte((byte)v);
            }
        }
        using var idat = new MemoryStream();
        using (var z = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true)) z.Write(raw.ToArray());

        using var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = (byte)bitDepth;
        ihdr[9] = (byte)colourType;
        PngWriter.WriteChunk(png, "IHDR", ihdr);
        foreach (var (type, data) in extra) PngWriter.WriteChunk(png, type, data);
        PngWriter.WriteChunk(png, "IDAT", idat.ToArray());
        PngWriter.WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>A 24-bit bottom-up BMP (BITMAPINFOHEADER), rows padded to 4 bytes.</summary>
    public static byte[] Bmp(RgbImage image)
    {
        var rowBytes = (image.Width * 3 + 3) & ~3;
        var size = 54 + rowBytes * image.Height;
        var b = new byte[size];
        b[0] = (byte)'B';
        b[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(2), size);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(18), image.Width);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(22), image.Height);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(28), 24);
        for (var y = 0; y < image.Height; y++)
        {
            var row = 54 + (image.Height - 1 - y) * rowBytes;
            for (var x = 0; x < image.Width; x++)
            {
                var (r, g, bl) = image.GetPixel(x, y);
                b[row + x * 3] = bl;
                b[row + x * 3 + 1] = g;
                b[row + x * 3 + 2] = r;
            }
        }
        return b;
    }

    /// <summary>
    /// An animated GIF89a with a 4-colour global palette and one full-size frame per entry of <paramref name="frames"/>
    /// (palette indices). LZW data stays uncompressed: a clear code every two pixels keeps codes 3 bits wide.
    /// </summary>
    public static byte[] Gif(int width, int height, (byte R, byte G, byte B)[] palette, params byte[][] frames)
    {
        var s = new MemoryStream();
        s.Write(Encoding.ASCII.GetBytes("GIF89a"));
        s.Write([(byte)width, (byte)(width >> 8), (byte)height, (byte)(height >> 8), 0b1000_0001, 0, 0]); // global table of 4
        for (var i = 0; i < 4; i++) s.Write([palette[i].R, palette[i].G, palette[i].B]);
        s.Write([0x21, 0xFF, 11, .. Encoding.ASCII.GetBytes("NETSCAPE2.0"), 3, 1, 0, 0, 0]); // loop forever
        foreach (var frame in frames)
        {
            s.Write([0x21, 0xF9, 4, 0b0000_0100, 10, 0, 0, 0]); // graphic control: keep, 0.1 s, no transparency
            s.Write([0x2C, 0, 0, 0, 0, (byte)width, (byte)(width >> 8), (byte)height, (byte)(height >> 8), 0]);
            s.WriteByte(2); // LZW minimum code size: clear = 4, end = 5, codes 3 bits
            var codes = new List<int>();
            for (var i = 0; i < frame.Length; i++)
            {
                if (i % 2 == 0) codes.Add(4);
                codes.Add(frame[i]);
            }
            codes.Add(5);
            var packed = new List<byte>();
            int acc = 0, bits = 0;
            foreach (var code in codes)
            {
                acc |= code << bits;
                bits += 3;
                while (bits >= 8)
                {
                    packed.Add((byte)acc);
                    acc >>= 8;
                    bits -= 8;
                }
            }
            if (bits > 0) packed.Add((byte)acc);
            for (var i = 0; i < packed.Count; i += 255)
            {
                var n = Math.Min(255, packed.Count - i);
                s.WriteByte((byte)n);
                s.Write(packed.GetRange(i, n).ToArray());
            }
            s.WriteByte(0);
        }
        s.WriteByte(0x3B);
        return s.ToArray();
    }

    /// <summary>
    /// A 16×16 CMYK JPEG (Adobe APP14, inverted CMYK) written by Pillow 9.4: quadrants C,M,Y,K = (0,255,255,0),
    /// (255,0,255,0), (255,255,0,0), (0,0,0,128). Pillow's convert("RGB") gives red, green, blue and (127,127,127).
    /// Skia cannot encode CMYK, hence the embedded bytes.
    /// </summary>
    public static byte[] CmykJpeg => Convert.FromBase64String(
        "/9j/7gAOQWRvYmUAZAAAAAAA/9sAQwABAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB" +
        "/8AAFAgAEAAQBEMRAE0RAFkRAEsRAP/EAB8AAAEFAQEBAQEBAAAAAAAAAAABAgMEBQYHCAkKC//EALUQAAIBAwMCBAMFBQQEAAABfQECAwAEEQUSITFB" +
        "BhNRYQcicRQygZGhCCNCscEVUtHwJDNicoIJChYXGBkaJSYnKCkqNDU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6g4SFhoeIiYqS" +
        "k5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2drh4uPk5ebn6Onq8fLz9PX29/j5+v/aAA4EQwBNAFkASwAAPwD+/iv8/wDr" +
        "/P8A6/v4r/AHr/f4ooor/AHr/f4or/f4r/f4or/P/r//2Q==");

    /// <summary>A fresh empty directory under the temp folder, deleted on dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("dreambooth-test-").FullName;

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public string Write(string name, byte[] bytes)
        {
            var p = File(name);
            System.IO.File.WriteAllBytes(p, bytes);
            return p;
        }

        public void Dispose()
        {
            try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
        }
    }
}
