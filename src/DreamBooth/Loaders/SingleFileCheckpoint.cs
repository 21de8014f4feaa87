// Original LDM / A1111 single-file checkpoints: one .safetensors holding the UNet under model.diffusion_model., the
// VAE under first_stage_model. and the text encoder(s): SD 1.x's CLIP under cond_stage_model.transformer., SDXL's
// CLIP ViT-L under conditioner.embedders.0.transformer. and its OpenCLIP bigG under conditioner.embedders.1.model.
// Names are translated by LdmKeyMap; only the tensors a model asks for are read.
namespace DreamBooth.Loaders;

using DreamBooth.IO;
using DreamBooth.Loading;
using DreamBooth.Models.Autoencoders;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unets;
using TorchSharp;
using static TorchSharp.torch;
using Entry = DreamBooth.Loading.TensorSource.Entry;

/// <summary>Reads SD 1.x and SDXL single-file checkpoints as diffusers-named tensor sources (and, for tests and
/// export, writes SD 1.x ones).</summary>
public static class SingleFileCheckpoint
{
    public static UNet2DConditionModel LoadUnet(TensorSource file, UNet2DConditionConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        var layout = Layout(config);
        return StateDictLoader.LoadNew(() => new UNet2DConditionModel(config, device, dtype),
            model => Unet(file, model.state_dict().Keys, layout), "the single-file UNet (model.diffusion_model.*)");
    }

    public static AutoencoderKL LoadVae(TensorSource file, AutoencoderKLConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32) =>
        StateDictLoader.LoadNew(() => new AutoencoderKL(config, device, dtype),
            vae => Vae(LegacyKeys.RenameDeprecatedAttention(file), vae.state_dict().Keys, config.UpBlockTypes.Count),
            "the single-file VAE (first_stage_model.*)");

    public static CLIPTextEncoderBase LoadTextEncoder(TensorSource file, CLIPTextConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32) =>
        StateDictLoader.LoadNew(() => CLIPTextEncoder.Create(config, device, dtype),
            encoder => TextEncoder(file, encoder.state_dict().Keys), $"the single-file text encoder ({TextEncoderPrefix(file)}*)");

    /// <summary>SDXL's second text encoder (OpenCLIP naming) as a <see cref="CLIPTextModelWithProjection"/>.</summary>
    public static CLIPTextEncoderBase LoadTextEncoder2(TensorSource file, CLIPTextConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        if (!config.HasProjection)
            throw new DreamBoothException("An SDXL single file's second text encoder needs a CLIPTextModelWithProjection config (text_encoder_2/config.json).");
        return StateDictLoader.LoadNew(() => CLIPTextEncoder.Create(config, device, dtype),
            encoder => TextEncoder2(file, encoder.state_dict().Keys), $"the single-file second text encoder ({LdmKeyMap.SdxlTextEncoder2Prefix}*)");
    }

    /// <summary>The LDM layout of a UNet config; LDM numbering needs the same layer count in every block.</summary>
    public static LdmUnetLayout Layout(UNet2DConditionConfig config) =>
        LdmUnetLayout.Of(config.LayersPerBlock, config.UpBlockTypes)
        ?? throw new DreamBoothException("Single-file checkpoints need the same layers_per_block in every UNet block.");

    /// <summary>True when the file's keys look like an LDM single-file checkpoint.</summary>
    public static bool IsSingleFile(TensorSource file) =>
        file.Keys.Any(k => k.StartsWith(LdmKeyMap.UnetPrefix, StringComparison.Ordinal));

    /// <summary>True when the file's text encoders are stored as SDXL's (sgm's conditioner.embedders.*).</summary>
    public static bool IsSdxl(TensorSource file) =>
        file.Keys.Any(k => k.StartsWith("conditioner.embedders.", StringComparison.Ordinal));

    /// <summary>The UNet's tensors under diffusers names, for a model whose state_dict keys are <paramref name="modelKeys"/>.</summary>
    public static TensorSource Unet(TensorSource file, IEnumerable<string> modelKeys, LdmUnetLayout layout) =>
        Map(file, modelKeys, k => (LdmKeyMap.UnetPrefix + LdmKeyMap.UnetToLdm(k, layout), null));

    /// <summary>The VAE's tensors; mid-block attention projections are stored as 1×1 convs and reshaped to Linear.</summary>
    public static TensorSource Vae(TensorSource file, IEnumerable<string> modelKeys, int numUpBlocks) =>
        Map(file, modelKeys, k =>
        {
            var (ldm, conv) = LdmKeyMap.VaeToLdm(k, numUpBlocks);
            return (LdmKeyMap.VaePrefix + ldm, conv ? Conv1x1ToLinear : null);
        });

    /// <summary>The CLIP text encoder's tensors (with or without the text_model. level that old transformers lacked).</summary>
    public static TensorSource TextEncoder(TensorSource file, IEnumerable<string> modelKeys)
    {
        var prefix = TextEncoderPrefix(file);
        bool modern = file.Keys.Any(k => k.StartsWith(prefix + "text_model.", StringComparison.Ordinal));
        return Map(file, modelKeys, k =>
        {
            var key = LdmKeyMap.TextEncoderToLdm(k);
            if (!modern && key.StartsWith("text_model.", StringComparison.Ordinal)) key = key["text_model.".Length..];
            return (prefix + key, null);
        });
    }

    /// <summary>SDXL's OpenCLIP text encoder's tensors: the fused in_proj split into q/k/v, text_projection transposed back.</summary>
    public static TensorSource TextEncoder2(TensorSource file, IEnumerable<string> modelKeys) =>
        Map(file, modelKeys, k =>
        {
            var (ldm, qkv, transposed) = LdmKeyMap.OpenClipToLdm(k);
            Func<Entry, Entry>? adapt = qkv >= 0 ? e => ThirdOf(e, qkv) : transposed ? Transpose : null;
            return (LdmKeyMap.SdxlTextEncoder2Prefix + ldm, adapt);
        });

    private static string TextEncoderPrefix(TensorSource file) => IsSdxl(file) ? LdmKeyMap.SdxlTextEncoderPrefix : LdmKeyMap.TextEncoderPrefix;

    // adapt: how a stored tensor becomes the model's (shape and a transform applied on reading); null keeps it.
    private static TensorSource Map(TensorSource file, IEnumerable<string> modelKeys, Func<string, (string Ldm, Func<Entry, Entry>? Adapt)> toLdm)
    {
        var wanted = new Dictionary<string, List<(string Key, Func<Entry, Entry>? Adapt)>>(StringComparer.Ordinal);
        foreach (var key in modelKeys)
        {
            var (ldm, adapt) = toLdm(key);
            if (!wanted.TryGetValue(ldm, out var targets)) wanted[ldm] = targets = [];
            targets.Add((key, adapt));
        }
        // Keys the model doesn't want (LDM schedule buffers, EMA copies, other components) are simply not selected;
        // keys the model wants but the file lacks are reported as missing by StateDictLoader.
        return file.SelectMany((fileKey, entry) => wanted.TryGetValue(fileKey, out var targets)
            ? targets.Select(t => (t.Key, t.Adapt is null ? entry : t.Adapt(entry)))
            : []);
    }

    private static Entry Conv1x1ToLinear(Entry e) =>
        e.Shape.Length != 4 ? e : Then(e, e.Shape[..2], t => t.reshape(t.shape[0], t.shape[1]));

    private static Entry Transpose(Entry e) =>
        e.Shape.Length != 2 ? e : Then(e, [e.Shape[1], e.Shape[0]], t => t.t().contiguous());

    // Rows [i·n/3, (i+1)·n/3) of a fused [3·hidden, …] projection; a length not divisible by 3 is left whole so
    // that the loader reports the shape mismatch.
    private static Entry ThirdOf(Entry e, int i)
    {
        if (e.Shape.Length == 0 || e.Shape[0] % 3 != 0) return e;
        long n = e.Shape[0] / 3;
        return Then(e, [n, .. e.Shape[1..]], t => t.narrow(0, i * n, n));
    }

    private static Entry Then(Entry e, long[] shape, Func<Tensor, Tensor> f)
    {
        var first = e.Transform;
        return e with { Shape = shape, Transform = first is null ? f : t => { using var u = first(t); return f(u); } };
    }

    /// <summary>
    /// Writes diffusers-named component weights as one LDM single file (what A1111/ComfyUI load).
    /// </summary>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> unet, LdmUnetLayout layout,
                             IReadOnlyDictionary<string, Tensor> vae, int vaeUpBlocks, IReadOnlyDictionary<string, Tensor> textEncoder)
    {
        var all = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, t) in unet) all[LdmKeyMap.UnetPrefix + LdmKeyMap.UnetToLdm(k, layout)] = t;
        foreach (var (k, t) in vae)
        {
            var (ldm, conv) = LdmKeyMap.VaeToLdm(k, vaeUpBlocks);
            all[LdmKeyMap.VaePrefix + ldm] = conv ? t.reshape(t.shape[0], t.shape[1], 1, 1) : t;
        }
        foreach (var (k, t) in textEncoder) all[LdmKeyMap.TextEncoderPrefix + LdmKeyMap.TextEncoderToLdm(k)] = t;
        SafeTensorsWriter.Write(path, all);
    }
}
