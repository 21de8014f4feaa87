// Mirrors transformers src/transformers/models/clip/configuration_clip.py::CLIPVisionConfig
namespace DreamBooth.Models.Clip;

using DreamBooth.Loading;

/// <summary>
/// A CLIP vision tower's config. Defaults equal transformers' <c>CLIPVisionConfig.__init__</c> defaults (ViT-B/32), so
/// a diff-serialised <c>vision_config</c> that omits a key means what it means to transformers.
/// </summary>
public sealed record CLIPVisionConfig
{
    public int HiddenSize { get; init; } = 768;

    public int IntermediateSize { get; init; } = 3072;

    public int ProjectionDim { get; init; } = 512;

    public int NumHiddenLayers { get; init; } = 12;

    public int NumAttentionHeads { get; init; } = 12;

    public int NumChannels { get; init; } = 3;

    public int ImageSize { get; init; } = 224;

    public int PatchSize { get; init; } = 32;

    /// <summary>"quick_gelu" (OpenAI CLIP) or "gelu".</summary>
    public string HiddenAct { get; init; } = "quick_gelu";

    public double LayerNormEps { get; init; } = 1e-5;

    public double AttentionDropout { get; init; }

    /// <summary>Patches per side: image_size / patch_size.</summary>
    public int GridSize => ImageSize / PatchSize;

    /// <summary>Positions: one per patch plus the class token.</summary>
    public int NumPositions => GridSize * GridSize + 1;

    /// <summary>Reads a standalone vision config (e.g. a CLIPVisionModel folder's <c>config.json</c>).</summary>
    public static CLIPVisionConfig Load(string path) => From(ConfigFile.Load(path));

    public static CLIPVisionConfig From(ConfigFile file)
    {
        var d = new CLIPVisionConfig();
        var config = new CLIPVisionConfig
        {
            HiddenSize = file.Optional("hidden_size", d.HiddenSize),
            IntermediateSize = file.Optional("intermediate_size", d.IntermediateSize),
            ProjectionDim = file.Optional("projection_dim", d.ProjectionDim),
            NumHiddenLayers = file.Optional("num_hidden_layers", d.NumHiddenLayers),
            NumAttentionHeads = file.Optional("num_attention_heads", d.NumAttentionHeads),
            NumChannels = file.Optional("num_channels", d.NumChannels),
            ImageSize = file.Optional("image_size", d.ImageSize),
            PatchSize = file.Optional("patch_size", d.PatchSize),
            HiddenAct = file.Optional("hidden_act", d.HiddenAct),
            LayerNormEps = file.Optional("layer_norm_eps", d.LayerNormEps),
            AttentionDropout = file.Optional("attention_dropout", d.AttentionDropout),
        };
        config.Validate(file.Path);
        return config;
    }

    /// <summary>Throws <see cref="DreamBoothException"/> (prefixed with <paramref name="source"/>) for values the model cannot use.</summary>
    public void Validate(string source)
    {
        foreach (var (key, value) in new[] { ("num_channels", NumChannels), ("image_size", ImageSize), ("patch_size", PatchSize) })
            if (value <= 0) throw new DreamBoothException($"{source}: '{key}' must be positive, not {value}.");
        if (ImageSize % PatchSize != 0)
            throw new DreamBoothException($"{source}: 'image_size' ({ImageSize}) must be a multiple of 'patch_size' ({PatchSize}).");
        EncoderConfig.Validate(source);
    }

    /// <summary>
    /// The same transformer sizes as a <see cref="CLIPTextConfig"/>: transformers' CLIPEncoder reads only the shared
    /// fields (width, depth, heads, activation, eps, dropout), so both towers build their encoder from one class.
    /// </summary>
    public CLIPTextConfig EncoderConfig => new()
    {
        HiddenSize = HiddenSize,
        IntermediateSize = IntermediateSize,
        ProjectionDim = ProjectionDim,
        NumHiddenLayers = NumHiddenLayers,
        NumAttentionHeads = NumAttentionHeads,
        HiddenAct = HiddenAct,
        LayerNormEps = LayerNormEps,
        AttentionDropout = AttentionDropout,
    };
}
