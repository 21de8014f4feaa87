namespace DreamBooth.Loading;

using DreamBooth.IO;

/// <summary>One pipeline component as `dreambooth inspect` reports it.</summary>
public sealed record ComponentSummary(string Name, string Class, long Parameters, IReadOnlyList<string> Dtypes, long Bytes);

/// <summary>
/// Summarises a pipeline from file headers only (no weights are read), so it is instant even for SDXL.
/// Parameter counts are the element counts of every stored tensor except buffers (CLIP's position_ids).
/// </summary>
public static class PipelineInspector
{
    private static readonly (string Prefix, string Name, string Class)[] SingleFileParts =
    [
        (LdmKeyMap.UnetPrefix, "unet", "UNet2DConditionModel"),
        (LdmKeyMap.VaePrefix, "vae", "AutoencoderKL"),
        ("cond_stage_model.", "text_encoder", "CLIPTextModel"),
        ("conditioner.embedders.0.", "text_encoder", "CLIPTextModel"),
        ("conditioner.embedders.1.", "text_encoder_2", "CLIPTextModelWithProjection"),
    ];

    // A hub snapshot's files are symlinks into blobs/: the size is the target's, not the link's 79 bytes.
    private static long FileSize(string path)
    {
        var info = new FileInfo(path);
        return info.LinkTarget is not null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true } target ? target.Length : info.Length;
    }

    public static IReadOnlyList<ComponentSummary> Inspect(string model)
    {
        if (File.Exists(model)) return InspectSingleFile(model);
        var index = ModelIndex.Load(model);
        var result = new List<ComponentSummary>();
        foreach (var (name, (_, cls)) in index.Components)
        {
            var dir = Path.Combine(model, name);
            if (!Directory.Exists(dir)) throw new DreamBoothException($"{model}: model_index.json lists '{name}' but the folder {name}/ is missing.");
            var weightBase = cls switch
            {
                "UNet2DConditionModel" or "AutoencoderKL" => "diffusion_pytorch_model",
                "CLIPTextModel" or "CLIPTextModelWithProjection" => "model",
                _ => null,
            };
            // A component whose config cannot be read cannot be loaded: say so here too (inspect used to exit 0).
            foreach (var config in new[] { "config.json", "scheduler_config.json", "tokenizer_config.json" })
                if (File.Exists(Path.Combine(dir, config))) ConfigFile.Load(Path.Combine(dir, config));
            if (weightBase is null)
            {
                // Tokenizers and schedulers: no tensors, only their files.
                var bytes = Directory.EnumerateFiles(dir).Sum(FileSize);
                result.Add(new ComponentSummary(name, cls, 0, [], bytes));
                continue;
            }
            var files = WeightFiles.Find(dir, weightBase);
            long parameters = 0, total = 0;
            var dtypes = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var file in files)
            {
                total += FileSize(file);
                foreach (var t in SafeTensorsFile.ReadHeader(file))
                {
                    if (IsBuffer(t.Name)) continue;
                    parameters += t.Numel;
                    dtypes.Add(t.Dtype);
                }
            }
            result.Add(new ComponentSummary(name, cls, parameters, dtypes.ToList(), total));
        }
        return result;
    }

    private static IReadOnlyList<ComponentSummary> InspectSingleFile(string path)
    {
        var tensors = SafeTensorsFile.ReadHeader(path);
        var groups = new Dictionary<string, (string Class, long Params, SortedSet<string> Dtypes, long Bytes)>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            var part = SingleFileParts.FirstOrDefault(p => t.Name.StartsWith(p.Prefix, StringComparison.Ordinal));
            var (name, cls) = part.Prefix is null ? ("other", "tensors") : (part.Name, part.Class);
            if (!groups.TryGetValue(name, out var g)) g = (cls, 0, new SortedSet<string>(StringComparer.Ordinal), 0);
            if (!IsBuffer(t.Name)) g.Params += t.Numel;
            g.Dtypes.Add(t.Dtype);
            g.Bytes += t.ByteLength;
            groups[name] = g;
        }
        return groups.Select(kv => new ComponentSummary(kv.Key, kv.Value.Class, kv.Value.Params, kv.Value.Dtypes.ToList(), kv.Value.Bytes)).ToList();
    }

    private static bool IsBuffer(string key) => key.EndsWith("position_ids", StringComparison.Ordinal);
}
