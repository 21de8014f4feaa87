namespace DreamBooth.Tests.IO;

using System.Text;

/// <summary>A corpus of broken and hostile .safetensors files, each built from raw bytes.</summary>
internal static class MalformedSafeTensors
{
    private static byte[] File(ulong headerLength, string header, byte[]? data = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new List<byte>(BitConverter.GetBytes(headerLength));
        bytes.AddRange(h);
        bytes.AddRange(data ?? []);
        return bytes.ToArray();
    }

    private static byte[] File(string header, int dataBytes) =>
        File((ulong)Encoding.UTF8.GetByteCount(header), header, new byte[dataBytes]);

    private const string Ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

    /// <summary>(kind, bytes, expected fragment of the error message).</summary>
    public static IEnumerable<(string Kind, byte[] Bytes, string Expect)> Corpus()
    {
        yield return ("empty file", [], "shorter than the 8-byte header length");
        yield return ("4 bytes", [1, 2, 3, 4], "shorter than the 8-byte header length");
        yield return ("header length beyond file", File(1_000_000, "{}"), "exceeds the file size");
        yield return ("header length 2^63", File(1UL << 63, Ok, new byte[8]), "exceeds the file size");
        yield return ("header length u64 max", File(ulong.MaxValue, Ok, new byte[8]), "exceeds the file size");
        yield return ("huge header", File(200_000_000, "{", new byte[4]), "exceeds the file size");
        yield return ("header not json", File("not json at all!", 0), "does not start with '{'");
        yield return ("truncated json", File("{\"a\":{\"dtype\":\"F32\"", 0), "not valid JSON");
        yield return ("json array", File("[1,2,3]", 0), "does not start with '{'");
        yield return ("invalid utf-8", File(4, "", [(byte)'{', 0xff, 0xfe, (byte)'}']), "not valid UTF-8");
        // A Latin-1 byte inside a name: valid JSON structure, no UTF-8 string (was an internal error).
        byte[] latin1 = [.. Encoding.ASCII.GetBytes("{\"caf"), 0xe9, .. Encoding.ASCII.GetBytes("\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}")];
        yield return ("latin-1 name", File((ulong)latin1.Length, "", [.. latin1, 0, 0, 0, 0]), "not valid UTF-8");
        yield return ("lone surrogate escape", File("{\"\\udc00\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "not valid Unicode");
        yield return ("megabyte name", File("{\"" + new string('n', 1 << 20) + "\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "(1,048,576 characters)");
        yield return ("unknown dtype", File("{\"a\":{\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "unknown dtype");
        yield return ("missing dtype", File("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8), "has no dtype");
        yield return ("missing shape", File("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8), "has no shape");
        yield return ("negative dim", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8), "invalid dimension");
        yield return ("fractional dim", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8), "invalid dimension");
        yield return ("overflowing shape", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8), "impossibly large shape");
        yield return ("missing offsets", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8), "needs data_offsets");
        yield return ("three offsets", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}", 8), "needs data_offsets");
        yield return ("negative offset", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8), "invalid data_offsets");
        yield return ("reversed offsets", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8), "end before they begin");
        yield return ("offsets beyond file", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4), "beyond the end of the file");
        yield return ("offset huge", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,9223372036854775807]}}", 8), "beyond the end of the file");
        yield return ("shape/size mismatch", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "needs 12 bytes");
        yield return ("overlapping tensors", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "overlaps");
        yield return ("hole in buffer", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8), "gap in the data buffer");
        yield return ("trailing data", File(Ok, 16), "tensors cover 8");
        yield return ("duplicate key", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16), "duplicate key");
        yield return ("metadata not object", File("{\"__metadata__\":[1]}", 0), "__metadata__ is not an object");
        yield return ("metadata value number", File("{\"__metadata__\":{\"x\":1}}", 0), "is not a string");
        yield return ("entry not object", File("{\"a\":42}", 0), "is not an object");
        yield return ("deeply nested json", File("{\"a\":" + new string('[', 5000) + new string(']', 5000) + "}", 0), "not valid JSON");
        yield return ("too many dims", File("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4), "dimensions");
    }
}
