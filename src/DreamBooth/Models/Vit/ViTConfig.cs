// Mirrors transformers src/transformers/models/vit/configuration_vit.py::ViTConfig
namespace DreamBooth.Models.Vit;

using DreamBooth.Loading;

/// <summary>
/// A ViT config.json (e.g. facebook/dino-vits16). Defaults equal transformers' <c>ViTConfig.__init__</c> defaults (ViT-B/16).
/// Only the inference-relevant keys are read; dropout probabilities do not apply in eval mode.
/// </summary>
public sealed record ViTConfig
{
    public int HiddenSize { get; init; } = 768;

    public int NumHiddenLayers { get; init; } = 12;

    public int NumAttentionHeads { get; init; } = 12;

    public int IntermediateSize { get; init; } = 3072;

    /// <summary>"gelu" (exact, erf form: DINO and the original ViT) or "quick_gelu".</summary>
    public string HiddenAct { get; init; } = "gelu";

    public double LayerNormEps { get; init; } = 1e-12;

    public int ImageSize { get; init; } = 224;

    public int PatchSize { get; init; } = 16;

    public int NumChannels { get; init; } = 3;

    /// <summary>Bias on the query/key/value projections.</summary>
    public bool QkvBias { get; init; } = true;

    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Patches: (image_size / patch_size)².</summary>
    public int NumPatches => (ImageSize / PatchSize) * (ImageSize / PatchSize);

    public static ViTConfig Load(string path) => From(ConfigFile.Load(path));

    public static ViTConfig From(ConfigFile file)
    {
        var d = new ViTConfig();
        var config = new ViTConfig
        {
            HiddenSize = file.Optional("hidden_size", d.HiddenSize),
            NumHiddenLayers = file.Optional("num_hidden_layers", d.NumHiddenLayers),
            NumAttentionHeads = file.Optional("num_attention_heads", d.NumAttentionHeads),
            IntermediateSize = file.Optional("intermediate_size", d.IntermediateSize),
            HiddenAct = file.Optional("hidden_act", d.HiddenAct),
            LayerNormEps = file.Optional("layer_norm_eps", d.LayerNormEps),
            ImageSize = file.Optional("image_size", d.ImageSize),
            PatchSize = file.Optional("patch_size", d.PatchSize),
            NumChannels = file.Optional("num_channels", d.NumChannels),
            QkvBias = file.Optional("qkv_bias", d.QkvBias),
        };
        config.Validate(file.Path);
        return config;
    }

    /// <summary>Throws <see cref="DreamBoothException"/> (prefixed with <paramref name="source"/>) for values the model cannot use.</summary>
    public void Validate(string source)
    {
        foreach (var (key, value) in new[]
                 {
                     ("hidden_size", HiddenSize), ("num_hidden_layers", NumHiddenLayers), ("num_attention_heads", NumAttentionHeads),
                     ("intermediate_size", IntermediateSize), ("image_size", ImageSize), ("patch_size", PatchSize), ("num_channels", NumChannels),
                 })
            if (value <= 0) throw new DreamBoothException($"{source}: '{key}' must be positive, not {value}.");
        if (HiddenSize % NumAttentionHeads != 0)
            throw new DreamBoothException($"{source}: 'hidden_size' ({HiddenSize}) must be divisible by 'num_attention_heads' ({NumAttentionHeads}).");
        if (ImageSize % PatchSize != 0)
            throw new DreamBoothException($"{source}: 'image_size' ({ImageSize}) must be a multiple of 'patch_size' ({PatchSize}).");
        if (HiddenAct is not ("gelu" or "quick_gelu"))
            throw new DreamBoothException($"{source}: 'hidden_act' is '{HiddenAct}'; supported: gelu, quick_gelu.");
        if (!(LayerNormEps > 0)) throw new DreamBoothException($"{source}: 'layer_norm_eps' must be positive, not {LayerNormEps}.");
    }
}
