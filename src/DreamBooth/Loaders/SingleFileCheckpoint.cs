// Original LDM / A1111 single-file checkpoints (SD 1.x naming): one .safetensors holding the UNet under
// model.diffusion_model., the VAE under first_stage_model. and the CLIP text encoder under
// cond_stage_model.transformer. Names are translated by LdmKeyMap; only the tensors a model asks for are read.
namespace DreamBooth.Loaders;

using DreamBooth.IO;
using DreamBooth.Loading;
using DreamBooth.Models.Autoencoders;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unets;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>Reads (and, for tests and export, writes) SD 1.x single-file checkpoints as diffusers-named tensor sources.</summary>
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
            encoder => TextEncoder(file, encoder.state_dict().Keys), "the single-file text encoder (cond_stage_model.transformer.*)");

    /// <summary>The LDM layout of a UNet config; LDM numbering needs the same layer count in every block.</summary>
    public static LdmUnetLayout Layout(UNet2DConditionConfig config) =>
        LdmUnetLayout.Of(config.LayersPerBlock, config.UpBlockTypes)
        ?? throw new DreamBoothException("Single-file checkpoints need the same layers_per_block in every UNet block.");

    /// <summary>True when the file's keys look like an LDM single-file checkpoint.</summary>
    public static bool IsSingleFile(TensorSource file) =>
        file.Keys.Any(k => k.StartsWith(LdmKeyMap.UnetPrefix, StringComparison.Ordinal));

    /// <summary>The UNet's tensors under diffusers names, for a model whose state_dict keys are <paramref name="modelKeys"/>.</summary>
    public static TensorSource Unet(TensorSource file, IEnumerable<string> modelKeys, LdmUnetLayout layout) =>
        Map(file, modelKeys, k => (LdmKeyMap.UnetPrefix + LdmKeyMap.UnetToLdm(k, layout), false));

    /// <summary>The VAE's tensors; mid-block attention projections are stored as 1×1 convs and reshaped to Linear.</summary>
    public static TensorSource Vae(TensorSource file, IEnumerable<string> modelKeys, int numUpBlocks) =>
        Map(file, modelKeys, k =>
        {
            var (ldm, conv) = LdmKeyMap.VaeToLdm(k, numUpBlocks);
            return (LdmKeyMap.VaePrefix + ldm, conv);
        });

    /// <summary>The CLIP text encoder's tensors (with or without the text_model. level that old transformers lacked).</summary>
    public static TensorSource TextEncoder(TensorSource file, IEnumerable<string> modelKeys)
    {
        bool modern = file.Keys.Any(k => k.StartsWith(LdmKeyMap.TextEncoderPrefix + "text_model.", StringComparison.Ordinal));
        return Map(file, modelKeys, k =>
        {
            var key = LdmKeyMap.TextEncoderToLdm(k);
            if (!modern && key.StartsWith("text_model.", StringComparison.Ordinal)) key = key["text_model.".Length..];
            return (LdmKeyMap.TextEncoderPrefix + key, false);
        });
    }

    private static TensorSource Map(TensorSource file, IEnumerable<string> modelKeys, Func<string, (string Ldm, bool Conv1x1)> toLdm)
    {
        var wanted = new Dictionary<string, (string Key, bool Conv)>(StringComparer.Ordinal);
        foreach (var key in modelKeys)
        {
            var (ldm, conv) = toLdm(key);
            wanted[ldm] = (key, conv);
        }
        // Keys the model doesn't want (LDM schedule buffers, EMA copies, other components) are simply not selected;
        // keys the model wants but the file lacks are reported as missing by StateDictLoader.
        return file.Select((fileKey, entry) =>
        {
            if (!wanted.TryGetValue(fileKey, out var target)) return null;
            if (!target.Conv || entry.Shape.Length != 4) return (target.Key, entry);
            return (target.Key, entry with { Shape = entry.Shape[..2], Transform = t => t.reshape(t.shape[0], t.shape[1]) });
        });
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
