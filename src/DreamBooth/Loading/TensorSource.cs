namespace DreamBooth.Loading;

using DreamBooth.IO;
using static TorchSharp.torch;

/// <summary>
/// Named tensors available for loading, backed by one or more open safetensors files. Entries can be
/// renamed or given a transform (e.g. LDM single files store VAE attention as 1×1 convs) without reading data.
/// </summary>
public sealed class TensorSource : IDisposable
{
    public sealed record Entry(SafeTensorsFile File, string FileKey, long[] Shape, Func<Tensor, Tensor>? Transform = null);

    private readonly Dictionary<string, Entry> entries = new(StringComparer.Ordinal);
    private readonly List<SafeTensorsFile> owned = [];

    public IEnumerable<string> Keys => entries.Keys;

    public int Count => entries.Count;

    public bool Contains(string key) => entries.ContainsKey(key);

    public Entry this[string key] => entries[key];

    /// <summary>Opens the given files (e.g. shards) and exposes all their tensors; a key in two files is an error.</summary>
    public static TensorSource Open(params string[] files)
    {
        var source = new TensorSource();
        try
        {
            foreach (var path in files)
            {
                var f = SafeTensorsFile.Open(path);
                source.owned.Add(f);
                foreach (var t in f.Tensors)
                    if (!source.entries.TryAdd(t.Name, new Entry(f, t.Name, t.Shape)))
                        throw new DreamBoothException($"{path}: tensor '{t.Name}' also appears in another shard.");
            }
            return source;
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>A view with keys renamed (null drops the key); files stay owned by this source.</summary>
    public TensorSource Select(Func<string, Entry, (string Key, Entry Entry)?> map) =>
        SelectMany((key, entry) => map(key, entry) is { } mapped ? [mapped] : []);

    /// <summary>A view in which one stored tensor may feed several keys (e.g. a fused q/k/v split three ways).</summary>
    public TensorSource SelectMany(Func<string, Entry, IEnumerable<(string Key, Entry Entry)>> map)
    {
        var view = new TensorSource();
        foreach (var (key, entry) in entries)
            foreach (var mapped in map(key, entry))
                if (!view.entries.TryAdd(mapped.Key, mapped.Entry))
                    throw new DreamBoothException($"Two tensors map onto the key '{mapped.Key}'.");
        return view;
    }

    /// <summary>Keys with a prefix, the prefix removed (e.g. "unet." in LoRA files).</summary>
    public TensorSource WithPrefix(string prefix) =>
        Select((k, e) => k.StartsWith(prefix, StringComparison.Ordinal) ? (k[prefix.Length..], e) : null);

    public Tensor Read(string key)
    {
        var e = entries[key];
        var t = e.File.Read(e.FileKey);
        if (e.Transform is null) return t;
        using (t) return e.Transform(t);
    }

    /// <summary>Copies the tensor into <paramref name="target"/> (shape-checked, dtype/device converted).</summary>
    public void ReadInto(string key, Tensor target)
    {
        var e = entries[key];
        if (e.Transform is null)
        {
            e.File.ReadInto(e.FileKey, target);
            return;
        }
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var value = Read(key);
        if (!value.shape.SequenceEqual(target.shape))
            throw new DreamBoothException($"'{key}' has shape [{string.Join(", ", value.shape)}] but the model expects [{string.Join(", ", target.shape)}].");
        target.copy_(value);
    }

    public void Dispose()
    {
        foreach (var f in owned) f.Dispose();
        owned.Clear();
    }
}
