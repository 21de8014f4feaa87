// Reader for the safetensors format (https://github.com/huggingface/safetensors):
// u64 little-endian header size N, N bytes of JSON {name: {dtype, shape, data_offsets}, "__metadata__": {..}},
// then the byte buffer. Tensors are read on demand by offset, straight into the destination tensor's
// memory, so a multi-GB file never needs its size in managed memory. Every header field is validated
// before use: hostile files give a SafeTensorsFormatException, never a crash or a giant allocation.
namespace DreamBooth.IO;

using System.Text;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>One tensor's entry in a safetensors header. Offsets are absolute file positions.</summary>
public sealed record SafeTensorInfo(string Name, string Dtype, long[] Shape, long Start, long End)
{
    public long Numel => Shape.Aggregate(1L, (a, b) => a * b);

    public long ByteLength => End - Start;

    public ScalarType ScalarType => SafeTensorsDtype.ToTorch(Dtype);
}

/// <summary>The file is not a valid safetensors file.</summary>
public sealed class SafeTensorsFormatException(string message) : DreamBoothException(message);

public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>Same limit as the reference implementation: headers beyond 100 MB are refused.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly SafeFileHandle handle;
    private readonly Dictionary<string, SafeTensorInfo> byName;

    public string Path { get; }

    public long FileLength { get; }

    /// <summary>Tensors in header order.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafeTensorsFile(string path, SafeFileHandle handle, long length, List<SafeTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        this.handle = handle;
        FileLength = length;
        Tensors = tensors;
        byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        Metadata = metadata;
    }

    public static SafeTensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new DreamBoothException($"{path}: file not found.");
        BoundedFile.EnsureRegular(path);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            var length = RandomAccess.GetLength(handle);
            List<SafeTensorInfo> tensors;
            Dictionary<string, string> metadata;
            try
            {
                (tensors, metadata) = ParseHeader(path, handle, length);
            }
            catch (InvalidOperationException)
            {
                // An escaped lone surrogate ("\udc00") in a name is valid JSON but no string.
                throw Bad(path, "header holds a name or value that is not valid Unicode");
            }
            return new SafeTensorsFile(path, handle, length, tensors, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Reads only the header (names, dtypes, shapes) and closes the file.</summary>
    public static IReadOnlyList<SafeTensorInfo> ReadHeader(string path)
    {
        using var f = Open(path);
        return f.Tensors;
    }

    public bool Contains(string name) => byName.ContainsKey(name);

    public SafeTensorInfo this[string name] =>
        byName.TryGetValue(name, out var info) ? info : throw new DreamBoothException($"{Path}: no tensor named '{Text.Names.Short(name)}'.");

    /// <summary>Reads a tensor into a new CPU tensor of the stored dtype.</summary>
    public Tensor Read(string name)
    {
        var info = this[name];
        var t = empty(info.Shape, info.ScalarType);
        try
        {
            ReadBytes(info, t);
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>Reads a tensor straight into <paramref name="target"/> (same shape), converting dtype/device if needed.</summary>
    public void ReadInto(string name, Tensor target)
    {
        var info = this[name];
        if (!target.shape.SequenceEqual(info.Shape))
            throw new DreamBoothException($"{Path}: '{Text.Names.Short(name)}' has shape [{string.Join(", ", info.Shape)}] but the model expects [{string.Join(", ", target.shape)}].");
        using var noGrad = no_grad();
        if (target.device_type == DeviceType.CPU && target.dtype == info.ScalarType && target.is_contiguous())
        {
            ReadBytes(info, target);
            return;
        }
        using var staging = Read(name);
        target.copy_(staging);
    }

    private void ReadBytes(SafeTensorInfo info, Tensor destination)
    {
        if (info.ByteLength == 0) return;
        // A tensor's bytes span native memory; spans are int-sized, so large tensors go in chunks.
        using var flat = destination.view(-1);
        long elementSize = info.ByteLength / Math.Max(1, info.Numel);
        long chunk = (1L << 30) / elementSize;
        for (long first = 0; first < info.Numel; first += chunk)
        {
            using var part = flat.narrow(0, first, Math.Min(chunk, info.Numel - first));
            var span = part.bytes;
            long position = info.Start + first * elementSize;
            int read = 0;
            while (read < span.Length)
            {
                int got = RandomAccess.Read(handle, span[read..], position + read);
                if (got <= 0) throw new SafeTensorsFormatException($"{Path}: file ended while reading '{info.Name}'.");
                read += got;
            }
        }
    }

    public void Dispose() => handle.Dispose();

    private static SafeTensorsFormatException Bad(string path, string why) =>
        new($"{path}: not a valid .safetensors file: {why}.");

    private static (List<SafeTensorInfo>, Dictionary<string, string>) ParseHeader(string path, SafeFileHandle handle, long fileLength)
    {
        if (fileLength < 8) throw Bad(path, $"only {fileLength} bytes, shorter than the 8-byte header length");
        Span<byte> lenBytes = stackalloc byte[8];
        RandomAccess.Read(handle, lenBytes, 0);
        var headerLength = BitConverter.ToUInt64(lenBytes);
        if (headerLength > (ulong)(fileLength - 8))
            throw Bad(path, $"header length {headerLength} exceeds the file size {fileLength}");
        if (headerLength > MaxHeaderBytes) throw Bad(path, $"header of {headerLength} bytes exceeds the {MaxHeaderBytes}-byte limit");
        if (headerLength < 2) throw Bad(path, "empty header");

        var header = new byte[headerLength];
        if (RandomAccess.Read(handle, header, 8) != header.Length) throw Bad(path, "truncated header");
        if (header[0] != (byte)'{') throw Bad(path, "header does not start with '{'");
        // Names are UTF-8: anything else used to escape as an internal error when a name was read.
        if (!System.Text.Unicode.Utf8.IsValid(header)) throw Bad(path, "header is not valid UTF-8");

        JsonDocument doc;
        try
        {
            // Strict UTF-8 and duplicate-key detection happen below; JsonDocument rejects invalid UTF-8 itself.
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw Bad(path, "header is not valid JSON (" + e.Message.Split('.')[0] + ")");
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad(path, "header is not a JSON object");
            var dataStart = 8 + (long)headerLength;
            var dataLength = fileLength - dataStart;
            var tensors = new List<SafeTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(prop.Name)) throw Bad(path, $"duplicate key '{Text.Names.Short(prop.Name)}'");
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad(path, "__metadata__ is not an object");
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw Bad(path, $"__metadata__ value '{Text.Names.Short(m.Name)}' is not a string");
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                tensors.Add(ParseEntry(path, prop, dataStart, dataLength));
            }

            // Offsets must tile the buffer exactly: no overlaps, no holes, nothing after the last tensor.
            long expected = 0;
            foreach (var t in tensors.OrderBy(t => t.Start).ThenBy(t => t.End))
            {
                if (t.Start - dataStart < expected) throw Bad(path, $"tensor '{Text.Names.Short(t.Name)}' overlaps another tensor");
                if (t.Start - dataStart > expected) throw Bad(path, $"gap in the data buffer before tensor '{Text.Names.Short(t.Name)}'");
                expected = t.End - dataStart;
            }
            if (expected != dataLength) throw Bad(path, $"data buffer has {dataLength} bytes but the tensors cover {expected}");
            return (tensors, metadata);
        }
    }

    private static SafeTensorInfo ParseEntry(string path, JsonProperty prop, long dataStart, long dataLength)
    {
        var name = prop.Name;
        var e = prop.Value;
        if (e.ValueKind != JsonValueKind.Object) throw Bad(path, $"entry '{Text.Names.Short(name)}' is not an object");
        if (!e.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String) throw Bad(path, $"tensor '{Text.Names.Short(name)}' has no dtype");
        var dtype = dtypeEl.GetString()!;
        if (!SafeTensorsDtype.IsKnown(dtype)) throw Bad(path, $"tensor '{Text.Names.Short(name)}' has unknown dtype '{dtype}'");
        if (!e.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array) throw Bad(path, $"tensor '{Text.Names.Short(name)}' has no shape");
        if (shapeEl.GetArrayLength() > 16) throw Bad(path, $"tensor '{Text.Names.Short(name)}' has {shapeEl.GetArrayLength()} dimensions");
        var shape = new long[shapeEl.GetArrayLength()];
        long numel = 1;
        int i = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var dim) || dim < 0) throw Bad(path, $"tensor '{Text.Names.Short(name)}' has an invalid dimension");
            var dimValue = d.GetInt64();
            shape[i++] = dimValue;
            try { numel = checked(numel * dimValue); }
            catch (OverflowException) { throw Bad(path, $"tensor '{Text.Names.Short(name)}' has an impossibly large shape"); }
        }
        if (!e.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw Bad(path, $"tensor '{Text.Names.Short(name)}' needs data_offsets [begin, end]");
        var offs = offEl.EnumerateArray().Select(o => o.ValueKind == JsonValueKind.Number && o.TryGetInt64(out var v) ? v : -1).ToArray();
        long begin = offs[0], end = offs[1];
        if (begin < 0 || end < 0) throw Bad(path, $"tensor '{Text.Names.Short(name)}' has invalid data_offsets");
        if (begin > end) throw Bad(path, $"tensor '{Text.Names.Short(name)}' has data_offsets that end before they begin");
        if (end > dataLength) throw Bad(path, $"tensor '{Text.Names.Short(name)}' lies beyond the end of the file (offset {end} > {dataLength})");
        long bytes;
        try { bytes = checked(numel * SafeTensorsDtype.SizeOf(dtype)); }
        catch (OverflowException) { throw Bad(path, $"tensor '{Text.Names.Short(name)}' has an impossibly large shape"); }
        if (bytes != end - begin)
            throw Bad(path, $"tensor '{Text.Names.Short(name)}': shape [{string.Join(", ", shape)}] × {dtype} needs {bytes} bytes but data_offsets span {end - begin}");
        return new SafeTensorInfo(name, dtype, shape, dataStart + begin, dataStart + end);
    }
}
