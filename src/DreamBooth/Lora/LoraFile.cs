// Reads LoRA .safetensors files in the namings found in the wild (diffusers, peft, diffusers' old attention-processor
// names, kohya/A1111) into one list of (component, module, tensors, alpha) entries: a down/up pair for LoRA, the
// factors for LyCORIS LoHa/LoKr (kohya naming). Mapping to a model's modules happens in LoraLoader, which knows the model.
namespace DreamBooth.Lora;

using System.Text.RegularExpressions;
using DreamBooth.IO;
using static TorchSharp.torch;

/// <summary>Which model of the pipeline a LoRA entry adapts.</summary>
public enum LoraComponent { Unet, TextEncoder, TextEncoder2 }

/// <summary>One stored tensor of an entry.</summary>
public sealed record LoraTensor(string Key, long[] Shape);

/// <summary>One adapted module as a file names it.</summary>
/// <param name="Module">Dotted module path (diffusers/transformers names), or for kohya files the flat name with
/// '_' for '.' (<see cref="IsFlatName"/>), which only the model's own module names can resolve.</param>
/// <param name="Tensors">LoRA: "down" (A: [r, in] or [r, in, kh, kw]) and "up" (B: [out, r] or [out, r, 1, 1]);
/// LoHa/LoKr: the factors by their LyCORIS names (hada_w1_a…, lokr_w1…).</param>
/// <param name="AlphaKey">Scalar tensor holding alpha (kohya), if any.</param>
public sealed record LoraFileEntry(LoraComponent Component, string Module, bool IsFlatName, LoraAlgorithm Algorithm,
                                   IReadOnlyDictionary<string, LoraTensor> Tensors, string? AlphaKey)
{
    /// <summary>The key that names the entry in messages: LoRA's down weight, LyCORIS' first factor.</summary>
    public string Key => Tensors[Algorithm switch
    {
        LoraAlgorithm.LoRA => "down",
        LoraAlgorithm.LoHa => "hada_w1_a",
        _ => Tensors.ContainsKey("lokr_w1") ? "lokr_w1" : "lokr_w1_a",
    }].Key;

    /// <summary>Every tensor key of the entry, alpha included.</summary>
    public IEnumerable<string> Keys => Tensors.Values.Select(t => t.Key).Concat(AlphaKey is null ? [] : [AlphaKey]);

    /// <summary>The rank that alpha is divided by; null for a LoKr of two whole matrices (scale 1, alpha unused).</summary>
    public int? Rank => Algorithm == LoraAlgorithm.LoRA
        ? (int)Tensors["down"].Shape[0]
        : LycorisAdapter.RankOf(Algorithm, Tensors.ToDictionary(t => t.Key, t => t.Value.Shape));
}

/// <summary>peft-style alpha settings of one component (from the file's metadata or adapter_config.json).</summary>
public sealed record LoraAlphaSettings(double Alpha, IReadOnlyDictionary<string, double> AlphaPattern, bool UseRsLora, string Source)
{
    /// <summary>peft's alpha_pattern lookup: a key matches a module path that equals it or ends with "." + key (regex).</summary>
    public double AlphaFor(string module)
    {
        foreach (var (pattern, alpha) in AlphaPattern)
            if (Regex.IsMatch(module, $"(^|.*\\.){pattern}$", RegexOptions.CultureInvariant)) return alpha;
        return Alpha;
    }
}

/// <summary>An opened LoRA file: its format, entries and alpha information. Tensors are read on demand.</summary>
public sealed partial class LoraFile : IDisposable
{
    private readonly SafeTensorsFile file;
    private readonly Dictionary<LoraComponent, LoraAlphaSettings> alphaSettings;

    private LoraFile(SafeTensorsFile file, string format, IReadOnlyList<LoraFileEntry> entries,
                     Dictionary<LoraComponent, LoraAlphaSettings> alphaSettings)
    {
        this.file = file;
        Format = format;
        Entries = entries;
        this.alphaSettings = alphaSettings;
    }

    public string Path => file.Path;

    /// <summary>"diffusers", "peft", "diffusers-attn-processor" or "kohya".</summary>
    public string Format { get; }

    public IReadOnlyList<LoraFileEntry> Entries { get; }

    public IReadOnlyDictionary<string, string> Metadata => file.Metadata;

    /// <summary>Alpha settings found for a component (metadata or adapter_config.json), or null.</summary>
    public LoraAlphaSettings? AlphaSettings(LoraComponent component) => alphaSettings.GetValueOrDefault(component);

    /// <summary>Reads one tensor of the file (CPU, stored dtype).</summary>
    public Tensor Read(string key) => file.Read(key);

    /// <summary>
    /// The alpha the file gives an entry, in order: its kohya/diffusers <c>.alpha</c> tensor, the peft settings from
    /// the file's <c>lora_adapter_metadata</c> or the <c>adapter_config.json</c> beside it; null when the file has
    /// none (diffusers then uses alpha = rank, i.e. scale 1).
    /// </summary>
    public (double Alpha, bool UseRsLora)? AlphaOf(LoraFileEntry entry)
    {
        if (entry.AlphaKey is not null)
        {
            using var alpha = file.Read(entry.AlphaKey);
            return (alpha.to(ScalarType.Float64).item<double>(), false);
        }
        return alphaSettings.TryGetValue(entry.Component, out var s) ? (s.AlphaFor(entry.Module), s.UseRsLora) : null;
    }

    /// <summary>Opens and classifies a LoRA file; throws a <see cref="DreamBoothException"/> naming the format when
    /// it is neither a LoRA nor a kohya-named LyCORIS LoHa/LoKr (DoRA, OFT, LoCon-Tucker…) or has keys of no known naming.</summary>
    public static LoraFile Open(string path)
    {
        var file = SafeTensorsFile.Open(path);
        try
        {
            var keys = file.Tensors.Select(t => t.Name).ToList();
            if (keys.Count == 0) throw new DreamBoothException($"{path} holds no tensors; it is not a LoRA file.");
            RefuseUnsupported(path, keys);
            var (format, parsed) = Classify(path, keys);
            var entries = Group(path, file, parsed);
            // A peft text-encoder adapter saved from SDXL's second encoder says so only in its adapter_config.json.
            if (format == "peft" && AlphaSources.BaseModelClass(path) == "CLIPTextModelWithProjection")
                entries = [.. entries.Select(e => e.Component == LoraComponent.TextEncoder ? e with { Component = LoraComponent.TextEncoder2 } : e)];
            var alpha = AlphaSources.Read(path, file.Metadata, format, entries);
            return new LoraFile(file, format, entries, alpha);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public void Dispose() => file.Dispose();

    // Part: "down", "up", "alpha" or a LyCORIS factor name (hada_w1_a, lokr_w1…).
    private sealed record ParsedKey(string Key, LoraComponent? Component, string Module, bool Flat, string Part);

    // Markers of adapter kinds that are not supported, matched against the dot-separated parts after the module name:
    // a marker ending in '_' is a prefix, any other must equal the part. LoHa/LoKr are read in kohya naming only.
    private static readonly (string Marker, string Name)[] UnsupportedKinds =
    [
        ("lora_mid", "LyCORIS LoCon with Tucker decomposition (lora_mid)"),
        ("dora_scale", "DoRA (weight-decomposed LoRA: dora_scale)"),
        ("lora_magnitude_vector", "DoRA (weight-decomposed LoRA: lora_magnitude_vector)"),
        ("oft_", "OFT/BOFT (orthogonal fine-tuning)"),
        ("diff", "LyCORIS full weight difference (diff/diff_b)"),
        ("diff_b", "LyCORIS full weight difference (diff/diff_b)"),
        ("w_norm", "LyCORIS norm-layer training (w_norm/b_norm)"),
        ("b_norm", "LyCORIS norm-layer training (w_norm/b_norm)"),
    ];

    private static void RefuseUnsupported(string path, List<string> keys)
    {
        var lycoris = keys.FirstOrDefault(k => (k.Contains(".hada_", StringComparison.Ordinal) || k.Contains(".lokr_", StringComparison.Ordinal)) && !Kohya().IsMatch(k));
        if (lycoris is not null)
            throw new DreamBoothException(
                $"{path}: LyCORIS key '{lycoris}' is not in kohya naming (lora_unet_<module>.hada_w1_a, lora_te_<module>.lokr_w1…), the only one read for LoHa/LoKr.");
        foreach (var (marker, name) in UnsupportedKinds)
        {
            var example = keys.FirstOrDefault(k => k.Split('.').Skip(1).Any(part =>
                marker.EndsWith('_') ? part.StartsWith(marker, StringComparison.Ordinal) : part == marker));
            if (example is not null)
                throw new DreamBoothException(
                    $"{path} is a {name} file (e.g. key '{example}'); only LoRA files (low-rank down/up pairs) are supported.");
        }
    }

    private static (string Format, List<ParsedKey> Keys) Classify(string path, List<string> keys)
    {
        var parsed = new List<ParsedKey>(keys.Count);
        var formats = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            var (format, p) = ParseKey(key);
            if (p is null)
                throw new DreamBoothException(
                    $"{path}: key '{key}' follows no known LoRA naming (diffusers 'unet.<module>.lora.down.weight', peft " +
                    "'base_model.model.<module>.lora_A.weight', kohya 'lora_unet_<module>.lora_down.weight' or LyCORIS '….hada_w1_a' / '….lokr_w1').");
            formats.Add(format);
            parsed.Add(p);
        }
        // Old diffusers text-encoder files name attention by processor (to_q_lora) and the MLP by module: one family.
        if (formats.SetEquals(["diffusers", "diffusers-attn-processor"])) formats.Remove("diffusers");
        if (formats.Count > 1)
            throw new DreamBoothException($"{path} mixes LoRA namings ({string.Join(", ", formats)}); cannot tell how to read it.");
        return (formats.Min!, parsed);
    }

    private static (string Format, ParsedKey? Key) ParseKey(string key)
    {
        var m = Kohya().Match(key);
        if (m.Success)
        {
            var component = m.Groups[1].Value switch { "unet" => LoraComponent.Unet, "te2" => LoraComponent.TextEncoder2, _ => LoraComponent.TextEncoder };
            return ("kohya", new(key, component, m.Groups[2].Value, true, PartOf(m.Groups[3].Value)));
        }
        m = Peft().Match(key);
        if (m.Success) return ("peft", new(key, null, m.Groups[1].Value, false, m.Groups[2].Value == "A" ? "down" : "up"));
        m = Processor().Match(key);
        if (m.Success)
        {
            // diffusers < 0.17: LoRAAttnProcessor weights under the attention module (UNet) / self_attn (text encoder).
            var (owner, projection) = (m.Groups[2].Value, m.Groups[4].Value);
            bool text = owner.EndsWith("self_attn", StringComparison.Ordinal);
            var module = text
                ? $"{owner}.{projection switch { "to_out" => "out_proj", _ => projection[3..] + "_proj" }}"
                : $"{owner}.{(projection == "to_out" ? "to_out.0" : projection)}";
            return ("diffusers-attn-processor", new(key, ComponentOf(m.Groups[1].Value), module, false, PartOf(m.Groups[5].Value)));
        }
        m = Diffusers().Match(key);
        if (m.Success)
            return ("diffusers", new(key, ComponentOf(m.Groups[1].Value), m.Groups[2].Value, false, PartOf(m.Groups[3].Value)));
        return ("", null);
    }

    private static LoraComponent? ComponentOf(string prefix) => prefix switch
    {
        "unet." => LoraComponent.Unet,
        "text_encoder." => LoraComponent.TextEncoder,
        "text_encoder_2." => LoraComponent.TextEncoder2,
        _ => null,   // unprefixed: decided from the module name (see Group)
    };

    private static string PartOf(string suffix) => suffix switch
    {
        "alpha" => "alpha",
        _ when suffix.StartsWith("hada_", StringComparison.Ordinal) || suffix.StartsWith("lokr_", StringComparison.Ordinal) => suffix,
        _ when suffix.Contains("down", StringComparison.Ordinal) || suffix.StartsWith("lora_A", StringComparison.Ordinal) => "down",
        _ => "up",
    };

    private static List<LoraFileEntry> Group(string path, SafeTensorsFile file, List<ParsedKey> keys)
    {
        var entries = new List<LoraFileEntry>();
        foreach (var group in keys.GroupBy(k => (k.Component, k.Module, k.Flat)))
        {
            var (component, module, flat) = group.Key;
            foreach (var part in group.GroupBy(k => k.Part).Where(g => g.Count() > 1))
                throw new DreamBoothException($"{path}: module '{module}' has several {part.Key} tensors ({string.Join(", ", part.Select(k => k.Key))}).");
            var parts = group.ToDictionary(k => k.Part, k => new LoraTensor(k.Key, file[k.Key].Shape), StringComparer.Ordinal);
            parts.Remove("alpha", out var alpha);
            var algorithm = AlgorithmOf(path, module, parts.Keys);
            if (algorithm == LoraAlgorithm.LoRA)
            {
                if (!parts.TryGetValue("down", out var down) || !parts.TryGetValue("up", out var up))
                    throw new DreamBoothException($"{path}: module '{module}' has no LoRA {(parts.ContainsKey("down") ? "up (B)" : "down (A)")} weight.");
                if (down.Shape.Length is not (2 or 4) || up.Shape.Length is not (2 or 4) || up.Shape[1] != down.Shape[0])
                    throw new DreamBoothException(
                        $"{path}: module '{module}' has down {LoraLayer.Shape(down.Shape)} and up {LoraLayer.Shape(up.Shape)}, which do not form a low-rank pair.");
            }
            if (alpha is not null && file[alpha.Key].Numel != 1)
                throw new DreamBoothException($"{path}: '{alpha.Key}' should be a scalar, not {LoraLayer.Shape(file[alpha.Key].Shape)}.");
            // Unprefixed diffusers/peft files: transformers text encoders start at text_model.
            var resolved = component ?? (module.StartsWith("text_model.", StringComparison.Ordinal) ? LoraComponent.TextEncoder : LoraComponent.Unet);
            entries.Add(new(resolved, module, flat, algorithm, parts, alpha?.Key));
        }
        return entries;
    }

    // Which algorithm a module's tensors belong to, checking that they form a complete set (LyCORIS' weight lists).
    private static LoraAlgorithm AlgorithmOf(string path, string module, IEnumerable<string> partNames)
    {
        var parts = partNames.ToHashSet(StringComparer.Ordinal);
        bool loha = parts.Any(p => p.StartsWith("hada_", StringComparison.Ordinal)), lokr = parts.Any(p => p.StartsWith("lokr_", StringComparison.Ordinal));
        if (!loha && !lokr) return LoraAlgorithm.LoRA;
        if ((loha && lokr) || parts.Contains("down") || parts.Contains("up"))
            throw new DreamBoothException($"{path}: module '{module}' mixes adapter kinds ({string.Join(", ", parts.Order(StringComparer.Ordinal))}).");
        string? problem;
        if (loha)
        {
            var missing = new[] { "hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b" }.Where(p => !parts.Contains(p)).ToList();
            problem = missing.Count > 0 ? $"lacks {string.Join(", ", missing)}"
                : parts.Contains("hada_t1") != parts.Contains("hada_t2") ? "has only one of the Tucker cores hada_t1/hada_t2" : null;
        }
        else
        {
            string? Side(int i)
            {
                bool whole = parts.Contains($"lokr_w{i}"), a = parts.Contains($"lokr_w{i}_a"), b = parts.Contains($"lokr_w{i}_b");
                return whole ? (a || b ? $"has both lokr_w{i} and its factors" : null)
                     : a && b ? null : $"lacks lokr_w{i} (or lokr_w{i}_a and lokr_w{i}_b)";
            }
            problem = Side(1) ?? Side(2) ?? (parts.Contains("lokr_t2") && parts.Contains("lokr_w2") ? "has lokr_t2 with a whole lokr_w2" : null);
        }
        return problem is null ? (loha ? LoraAlgorithm.LoHa : LoraAlgorithm.LoKr)
            : throw new DreamBoothException($"{path}: {(loha ? "LoHa" : "LoKr")} module '{module}' {problem}.");
    }

    // lora_unet_<flat>.lora_down.weight | lora_te[12]_<flat>.lora_up.weight | ….alpha | LyCORIS ….hada_w1_a, ….lokr_w1 …
    [GeneratedRegex(@"^lora_(unet|te|te1|te2)_(.+)\.(lora_down\.weight|lora_up\.weight|alpha|hada_w[12]_[ab]|hada_t[12]|lokr_w[12](?:_[ab])?|lokr_t2)$")]
    private static partial Regex Kohya();

    // base_model.model.<module>.lora_A[.<adapter>].weight
    [GeneratedRegex(@"^base_model\.model\.(.+)\.lora_(A|B)(?:\.[^.]+)?\.weight$")]
    private static partial Regex Peft();

    // [unet.|text_encoder.]<attention>.processor.to_q_lora.down.weight, or <...>.self_attn.to_q_lora.up.weight
    [GeneratedRegex(@"^(unet\.|text_encoder\.|text_encoder_2\.)?(.+?)(\.processor)?\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$")]
    private static partial Regex Processor();

    // [unet.|text_encoder.|text_encoder_2.]<module>.(lora.down|lora.up|lora_A|lora_B|lora_linear_layer.down|…).weight | .alpha
    [GeneratedRegex(@"^(unet\.|text_encoder\.|text_encoder_2\.)?(.+?)\.(lora\.down\.weight|lora\.up\.weight|lora_A(?:\.[^.]+)?\.weight|lora_B(?:\.[^.]+)?\.weight|lora_linear_layer\.down\.weight|lora_linear_layer\.up\.weight|alpha)$")]
    private static partial Regex Diffusers();
}
