namespace DreamBooth.Loading;

using System.Text.Json.Nodes;

/// <summary>Finds a component's weight files in a diffusers folder: plain, variant (fp16) or sharded safetensors.</summary>
public static class WeightFiles
{
    /// <param name="dir">The component folder, e.g. "…/unet".</param>
    /// <param name="baseName">"diffusion_pytorch_model" (diffusers) or "model" (transformers).</param>
    /// <param name="variant">e.g. "fp16": prefer <c>{base}.fp16.safetensors</c>, fall back to the plain file.</param>
    public static string[] Find(string dir, string baseName, string? variant = null)
    {
        if (!Directory.Exists(dir)) throw new DreamBoothException($"{dir}: component folder not found.");
        // Variant names: diffusion_pytorch_model.fp16.safetensors; sharded: model.safetensors.index.fp16.json
        // (transformers/diffusers) or model.fp16.safetensors.index.json (older writers).
        var candidates = new List<(string Single, string[] Indexes)>();
        if (variant is not null)
            candidates.Add(($"{baseName}.{variant}.safetensors", [$"{baseName}.safetensors.index.{variant}.json", $"{baseName}.{variant}.safetensors.index.json"]));
        candidates.Add(($"{baseName}.safetensors", [$"{baseName}.safetensors.index.json"]));
        foreach (var (singleName, indexNames) in candidates)
        {
            var single = Path.Combine(dir, singleName);
            if (File.Exists(single)) return [single];
            foreach (var indexName in indexNames)
            {
                var index = Path.Combine(dir, indexName);
                if (File.Exists(index)) return Shards(index);
            }
        }
        var pickles = Directory.EnumerateFiles(dir)
            .Where(f => f.EndsWith(".bin", StringComparison.Ordinal) || f.EndsWith(".ckpt", StringComparison.Ordinal) || f.EndsWith(".pt", StringComparison.Ordinal) || f.EndsWith(".pth", StringComparison.Ordinal))
            .Select(Path.GetFileName).ToList();
        if (pickles.Count > 0)
            throw new DreamBoothException(
                $"{dir}: only pickled weights found ({string.Join(", ", pickles)}). Pickle files can run arbitrary code when loaded, so they are refused; " +
                "convert them once with Python (`safetensors.torch.save_file(torch.load(f, weights_only=True), out)` or diffusers' `save_pretrained(..., safe_serialization=True)`) " +
                "or download the .safetensors version of the model.");
        throw new DreamBoothException($"{dir}: no {baseName}.safetensors (or sharded index) found.");
    }

    private static string[] Shards(string indexPath)
    {
        var config = ConfigFile.Load(indexPath);
        if (config.Json["weight_map"] is not JsonObject map)
            throw new DreamBoothException($"{indexPath}: required key 'weight_map' is missing.");
        var dir = Path.GetDirectoryName(indexPath)!;
        var files = new List<string>();
        foreach (var (_, value) in map)
        {
            var name = value?.GetValue<string>() ?? throw new DreamBoothException($"{indexPath}: weight_map has a null entry.");
            if (name.Contains('/') || name.Contains('\\') || name.StartsWith('.'))
                throw new DreamBoothException($"{indexPath}: shard name '{name}' points outside the folder.");
            var path = Path.Combine(dir, name);
            if (!files.Contains(path)) files.Add(path);
        }
        foreach (var f in files)
            if (!File.Exists(f)) throw new DreamBoothException($"{indexPath}: shard {Path.GetFileName(f)} is missing.");
        return files.ToArray();
    }
}
