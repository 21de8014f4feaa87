// Mirrors PIL PngImagePlugin's text handling (chunk_tEXt / chunk_zTXt / chunk_iTXt → Image.text).
namespace DreamBooth.Imaging;

using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

/// <summary>One PNG chunk as stored, with whether its CRC matches.</summary>
public sealed record PngChunk(string Type, byte[] Data, bool CrcValid);

/// <summary>Reads the text metadata of a PNG (tEXt and zTXt as Latin-1, iTXt as UTF-8), e.g. A1111's "parameters".</summary>
public static class PngText
{
    /// <summary>Keyword → text for every text chunk; a repeated keyword keeps its last value (as PIL's dict does).</summary>
    public static Dictionary<string, string> Read(string path)
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
        return Read(bytes, path);
    }

    public static Dictionary<string, string> Read(byte[] png, string name)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var chunk in ReadChunks(png, name))
        {
            if (chunk.Type is not ("tEXt" or "zTXt" or "iTXt")) continue;
            var decoded = Decode(chunk);
            if (decoded is { } kv) result[kv.Key] = kv.Value;
        }
        return result;
    }

    /// <summary>All chunks up to IEND. A bad signature or a chunk running past the end is an error; a bad CRC is reported, not thrown.</summary>
    public static IReadOnlyList<PngChunk> ReadChunks(byte[] png, string name)
    {
        if (png.Length < 8 || !png.AsSpan(0, 8).SequenceEqual(PngWriter.Signature)) throw new DreamBoothException($"{name}: not a PNG file.");
        var chunks = new List<PngChunk>();
        var i = 8;
        while (i < png.Length)
        {
            if (i + 12 > png.Length) throw new DreamBoothException($"{name}: truncated PNG (chunk header at byte {i}).");
            var length = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(i));
            if (length > int.MaxValue || i + 12 + (long)length > png.Length) throw new DreamBoothException($"{name}: truncated PNG (chunk at byte {i} claims {length} bytes).");
            var type = Encoding.ASCII.GetString(png, i + 4, 4);
            var data = png.AsSpan(i + 8, (int)length).ToArray();
            var stored = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(i + 8 + (int)length));
            chunks.Add(new PngChunk(type, data, Crc32.Compute(png.AsSpan(i + 4, 4 + (int)length)) == stored));
            i += 12 + (int)length;
            if (type == "IEND") break;
        }
        return chunks;
    }

    /// <summary>The (keyword, text) of a text chunk; null for a malformed one (PIL skips those too).</summary>
    private static KeyValuePair<string, string>? Decode(PngChunk chunk)
    {
        var d = chunk.Data;
        var nul = Array.IndexOf(d, (byte)0);
        if (nul <= 0) return null;
        var keyword = Encoding.Latin1.GetString(d, 0, nul);
        var rest = d.AsSpan(nul + 1);
        try
        {
            switch (chunk.Type)
            {
                case "tEXt":
                    return new(keyword, Encoding.Latin1.GetString(rest));
                case "zTXt":
                    if (rest.Length < 1 || rest[0] != 0) return null; // method 0 (zlib) is the only one defined
                    return new(keyword, Encoding.Latin1.GetString(Inflate(rest[1..])));
                default: // iTXt: flag, method, language\0, translated keyword\0, text
                    if (rest.Length < 2) return null;
                    var compressed = rest[0] == 1;
                    var body = rest[2..];
                    var language = body.IndexOf((byte)0);
                    if (language < 0) return null;
                    body = body[(language + 1)..];
                    var translated = body.IndexOf((byte)0);
                    if (translated < 0) return null;
                    body = body[(translated + 1)..];
                    return new(keyword, new UTF8Encoding(false).GetString(compressed ? Inflate(body) : body));
            }
        }
        catch (InvalidDataException)
        {
            return null; // corrupt compressed text
        }
    }

    private static byte[] Inflate(ReadOnlySpan<byte> zlibData)
    {
        using var input = new MemoryStream(zlibData.ToArray());
        using var z = new ZLibStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        z.CopyTo(output);
        return output.ToArray();
    }
}
