// Mirrors diffusers VaeImageProcessor.numpy_to_pil + PIL PngImagePlugin saving with a PngInfo (tEXt/iTXt).
namespace DreamBooth.Imaging;

using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using DreamBooth.IO;
using static TorchSharp.torch;

/// <summary>
/// Writes 8-bit RGB PNGs with text metadata placed right after IHDR, where every reader (PIL, A1111, ComfyUI, exiftool)
/// finds it before the image data. A text is stored as tEXt when it is Latin-1, else as uncompressed iTXt (UTF-8),
/// the choice PIL makes. Files are written atomically.
/// </summary>
public static class PngWriter
{
    internal static ReadOnlySpan<byte> Signature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Writes an image tensor [3, H, W] in [0, 1], quantised as diffusers' numpy_to_pil (see <see cref="RgbImage.FromTensor"/>).</summary>
    public static void Write(string path, Tensor image, IEnumerable<KeyValuePair<string, string>>? text = null) =>
        Write(path, RgbImage.FromTensor(image), text);

    public static void Write(string path, RgbImage image, IEnumerable<KeyValuePair<string, string>>? text = null)
    {
        var bytes = Encode(image, text);
        AtomicFile.Write(path, s => s.Write(bytes));
    }

    /// <summary>The PNG file as bytes: signature, IHDR, text chunks (in the given order), IDAT, IEND.</summary>
    public static byte[] Encode(RgbImage image, IEnumerable<KeyValuePair<string, string>>? text = null)
    {
        using var png = new MemoryStream();
        png.Write(Signature);

        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, image.Width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), image.Height);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // colour type RGB; compression, filter and interlace stay 0
        WriteChunk(png, "IHDR", ihdr);

        foreach (var (keyword, value) in text ?? [])
        {
            var (type, body) = TextChunk(keyword, value);
            WriteChunk(png, type, body);
        }

        WriteChunk(png, "IDAT", CompressScanlines(image));
        WriteChunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>tEXt for Latin-1 text, otherwise iTXt (no compression, empty language tag and translated keyword).</summary>
    internal static (string Type, byte[] Body) TextChunk(string keyword, string value)
    {
        ValidateKeyword(keyword);
        if (value.Contains('\0')) throw new ArgumentException($"PNG text '{keyword}' must not contain NUL characters.", nameof(value));
        var key = Encoding.Latin1.GetBytes(keyword);
        using var body = new MemoryStream();
        body.Write(key);
        body.WriteByte(0);
        if (value.All(ch => ch <= '\u00FF'))
        {
            body.Write(Encoding.Latin1.GetBytes(value));
            return ("tEXt", body.ToArray());
        }
        body.Write([0, 0]); // compression flag, compression method
        body.WriteByte(0); // language tag ""
        body.WriteByte(0); // translated keyword ""
        body.Write(new UTF8Encoding(false).GetBytes(value));
        return ("iTXt", body.ToArray());
    }

    // PNG keywords: 1–79 Latin-1 printable characters, no leading, trailing or doubled spaces.
    private static void ValidateKeyword(string keyword)
    {
        var ok = keyword.Length is >= 1 and <= 79
            && keyword.All(ch => ch is >= ' ' and <= '~' || ch is >= '\u00A1' and <= '\u00FF')
            && !keyword.StartsWith(' ') && !keyword.EndsWith(' ') && !keyword.Contains("  ");
        if (!ok) throw new ArgumentException($"'{keyword}' is not a valid PNG text keyword (1-79 printable Latin-1 characters).", nameof(keyword));
    }

    internal static void WriteChunk(Stream png, string type, ReadOnlySpan<byte> body)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, body.Length);
        png.Write(word);
        var typeBytes = Encoding.ASCII.GetBytes(type);
        png.Write(typeBytes);
        png.Write(body);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32.Append(Crc32.Compute(typeBytes), body));
        png.Write(word);
    }

    /// <summary>
    /// Filters each row with the filter type (None, Sub, Up, Average, Paeth) whose output has the smallest sum of absolute
    /// signed bytes — libpng's default heuristic — then zlib-compresses the lot.
    /// </summary>
    private static byte[] CompressScanlines(RgbImage image)
    {
        var stride = image.Width * 3;
        var previous = new byte[stride];
        var candidates = new byte[5][];
        for (var f = 0; f < 5; f++) candidates[f] = new byte[stride];
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Optimal, leaveOpen: true))
        {
            var row = new byte[stride];
            for (var y = 0; y < image.Height; y++)
            {
                Array.Copy(image.Pixels, y * stride, row, 0, stride);
                var best = 0;
                var bestCost = long.MaxValue;
                for (var f = 0; f < 5; f++)
                {
                    var outRow = candidates[f];
                    long cost = 0;
                    for (var i = 0; i < stride; i++)
                    {
                        int a = i >= 3 ? row[i - 3] : 0, b = previous[i], c = i >= 3 ? previous[i - 3] : 0;
                        var predictor = f switch { 0 => 0, 1 => a, 2 => b, 3 => (a + b) >> 1, _ => Paeth(a, b, c) };
                        var v = (byte)(row[i] - predictor);
                        outRow[i] = v;
                        cost += v < 128 ? v : 256 - v;
                    }
                    if (cost < bestCost) (best, bestCost) = (f, cost);
                }
                zlib.WriteByte((byte)best);
                zlib.Write(candidates[best]);
                (previous, row) = (row, previous);
            }
        }
        return compressed.ToArray();
    }

    private static int Paeth(int a, int b, int c)
    {
        var p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}
