// Reads LoRA .safetensors files in the namings found in the wild (diffusers, peft, diffusers' old attention-processor
// names, kohya/A1111) into one list of (component, module, down, up, alpha) entries. Mapping to a model's modules
// happens in LoraLoader, which knows the model.
namespace DreamBooth.Lora;

using System.Text.RegularExpressions;
using DreamBooth.IO;
using static TorchSharp.torch;

/// <summary>Which model of the pipeline a LoRA entry adapts.</summary>
public enum LoraComponent { Unet, TextEncoder, TextEncoder2 }

/// <summary>One adapted module as a file names it.</summary>
/// <param name="Module">Dotted module path (diffusers/transformers names), or for kohya files the flat name with
/// '_' for '.' (<see cref="IsFlatName"/>), which only the model's own module names can resolve.</param>
/// <param name="DownKey">Tensor holding A ("down"): [r, in] or [r, in, kh, kw].</param>
/// <param name="UpKey">Tensor holding B ("up"): [out, r] or [out, r, 1, 1].</param>
/// <param name="AlphaKey">Scalar tensor holding alpha (kohya), if any.</param>
public sealed record LoraFileEntry(LoraComponent Component, string Module, bool IsFlatName, string DownKey, string UpKey,
                                   string? AlphaKey, long[] DownShape, long[] UpShape)
{
    public int Rank => (int)DownShape[0];
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
    /// it is not a plain LoRA (LyCORIS LoKr/LoHa, DoRA, OFT…) or has keys of no known naming.</summary>
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

    private enum Part { Down, Up, Alpha }

    private sealed record ParsedKey(string Key, LoraComponent? Component, string Module, bool Flat, Part Part);

    // Markers of adapter kinds that are not a low-rank down/up pair, matched against the dot-separated parts after the
    // module name: a marker ending in '_' is a prefix, any other must equal the part.
    private static readonly (string Marker, string Name)[] UnsupportedKinds =
    [
        ("lokr_", "LyCORIS LoKr (Kronecker product: lokr_w1/lokr_w2)"),
        ("hada_", "LyCORIS LoHa (Hadamard product: hada_w1_a…)"),
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
                    "'base_model.model.<module>.lora_A.weight', kohya 'lora_unet_<module>.lora_down.weight').");
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
        if (m.Success) return ("peft", new(key, null, m.Groups[1].Value, false, m.Groups[2].Value == "A" ? Part.Down : Part.Up));
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

    private static Part PartOf(string suffix) => suffix switch
    {
        "alpha" => Part.Alpha,
        _ when suffix.Contains("down", StringComparison.Ordinal) || suffix.StartsWith("lora_A", StringComparison.Ordinal) => Part.Down,
        _ => Part.Up,
    };

    private static List<LoraFileEntry> Group(string path, SafeTensorsFile file, List<ParsedKey> keys)
    {
        var entries = new List<LoraFileEntry>();
        foreach (var group in keys.GroupBy(k => (k.Component, k.Module, k.Flat)))
        {
            var (component, module, flat) = group.Key;
            string? Find(Part part)
            {
                var found = group.Where(k => k.Part == part).ToList();
                if (found.Count > 1)
                    throw new DreamBoothException($"{path}: module '{module}' has several {part} tensors ({string.Join(", ", found.Select(k => k.Key))}).");
                return found.FirstOrDefault()?.Key;
            }
            var (down, up, alpha) = (Find(Part.Down), Find(Part.Up), Find(Part.Alpha));
            if (down is null || up is null)
                throw new DreamBoothException($"{path}: module '{module}' has no LoRA {(down is null ? "down (A)" : "up (B)")} weight.");
            var (downShape, upShape) = (file[down].Shape, file[up].Shape);
            if (downShape.Length is not (2 or 4) || upShape.Length is not (2 or 4) || upShape[1] != downShape[0])
                throw new DreamBoothException(
                    $"{path}: module '{module}' has down {LoraLayer.Shape(downShape)} and up {LoraLayer.Shape(upShape)}, which do not form a low-rank pair.");
            if (alpha is not null && file[alpha].Numel != 1)
                throw new DreamBoothException($"{path}: '{alpha}' should be a scalar, not {LoraLayer.Shape(file[alpha].Shape)}.");
            // Unprefixed diffusers/peft files: transformers text encoders start at text_model.
            var resolved = component ?? (module.StartsWith("text_model.", StringComparison.Ordinal) ? LoraComponent.TextEncoder : LoraComponent.Unet);
            entries.Add(new(resolved, module, flat, down, up, alpha, downShape, upShape));
        }
        return entries;
    }

    // lora_unet_<flat>.lora_down.weight | lora_te[12]_<flat>.lora_up.weight | ….alpha
    [GeneratedRegex(@"^lora_(unet|te|te1|te2)_(.+)\.(lora_down\.weight|lora_up\.weight|alpha)$")]
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
