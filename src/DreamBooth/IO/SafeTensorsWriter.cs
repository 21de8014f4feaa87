namespace DreamBooth.IO;

using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

/// <summary>Writes tensors as a .safetensors file, atomically (temporary file, then rename).</summary>
public static class SafeTensorsWriter
{
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        // Same layout as the reference writer: larger dtypes first, then by name; 8-byte aligned header.
        var entries = tensors
            .Select(kv => (Name: kv.Key, Tensor: kv.Value, Dtype: SafeTensorsDtype.FromTorch(kv.Value.dtype)))
            .OrderByDescending(e => SafeTensorsDtype.SizeOf(e.Dtype))
            .ThenBy(e => e.Name, StringComparer.Ordinal)
            .ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in entries)
            if (!names.Add(e.Name) || e.Name == "__metadata__") throw new DreamBoothException($"Cannot write {path}: duplicate or reserved tensor name '{e.Name}'.");

        using var header = new MemoryStream();
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var e in entries)
            {
                long bytes = e.Tensor.NumberOfElements * SafeTensorsDtype.SizeOf(e.Dtype);
                json.WriteStartObject(e.Name);
                json.WriteString("dtype", e.Dtype);
                json.WriteStartArray("shape");
                foreach (var d in e.Tensor.shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        while (header.Length % 8 != 0) header.WriteByte((byte)' ');

        AtomicFile.Write(path, stream =>
        {
            stream.Write(BitConverter.GetBytes((ulong)header.Length));
            header.Position = 0;
            header.CopyTo(stream);
            foreach (var e in entries)
            {
                using var scope = NewDisposeScope();
                var cpu = e.Tensor.detach().cpu().contiguous();
                if (cpu.NumberOfElements == 0) continue;
                var flat = cpu.view(-1);
                long chunk = (1L << 30) / cpu.ElementSize;
                for (long first = 0; first < flat.shape[0]; first += chunk)
                    stream.Write(flat.narrow(0, first, Math.Min(chunk, flat.shape[0] - first)).bytes);
            }
        });
    }

    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        Write(path, tensors.AsEnumerable(), metadata);
}
