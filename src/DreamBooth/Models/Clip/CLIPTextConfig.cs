// Mirrors transformers src/transformers/models/clip/configuration_clip.py::CLIPTextConfig
namespace DreamBooth.Models.Clip;

using DreamBooth.Loading;

/// <summary>
/// A CLIP text tower's config.json. Defaults equal transformers' <c>CLIPTextConfig.__init__</c> defaults, so a
/// file that omits a key means what it means to transformers.
/// </summary>
public sealed record CLIPTextConfig
{
    public int VocabSize { get; init; } = 49408;

    public int HiddenSize { get; init; } = 512;

    public int IntermediateSize { get; init; } = 2048;

    /// <summary>Width of <c>text_projection</c> (used only by <see cref="CLIPTextModelWithProjection"/>).</summary>
    public int ProjectionDim { get; init; } = 512;

    public int NumHiddenLayers { get; init; } = 12;

    public int NumAttentionHeads { get; init; } = 8;

    public int MaxPositionEmbeddings { get; init; } = 77;

    /// <summary>"quick_gelu" (OpenAI CLIP: SD 1.x, SDXL encoder 1) or "gelu" (OpenCLIP: SD 2.x, SDXL encoder 2).</summary>
    public string HiddenAct { get; init; } = "quick_gelu";

    public double LayerNormEps { get; init; } = 1e-5;

    /// <summary>Dropout on the attention probabilities while training (0 in every released SD checkpoint).</summary>
    public double AttentionDropout { get; init; }

    public int PadTokenId { get; init; } = 1;

    public int BosTokenId { get; init; } = 49406;

    /// <summary>
    /// 2 in the configs of all released SD checkpoints (a historical mistake, transformers PR #24773): the pooled
    /// output is then taken at the largest token id instead of at the first <c>eos_token_id</c>.
    /// </summary>
    public int EosTokenId { get; init; } = 49407;

    /// <summary>e.g. ["CLIPTextModel"] or ["CLIPTextModelWithProjection"] (SDXL's text_encoder_2).</summary>
    public IReadOnlyList<string> Architectures { get; init; } = [];

    public bool HasProjection => Architectures.Contains("CLIPTextModelWithProjection");

    public int HeadDim => HiddenSize / NumAttentionHeads;

    /// <summary>Reads <c>config.json</c>; an unsupported or inconsistent value is an error naming the file and key.</summary>
    public static CLIPTextConfig Load(string path) => From(ConfigFile.Load(path));

    public static CLIPTextConfig From(ConfigFile file)
    {
        var d = new CLIPTextConfig();
        var config = new CLIPTextConfig
        {
            VocabSize = file.Optional("vocab_size", d.VocabSize),
            HiddenSize = file.Optional("hidden_size", d.HiddenSize),
            IntermediateSize = file.Optional("intermediate_size", d.IntermediateSize),
            ProjectionDim = file.Optional("projection_dim", d.ProjectionDim),
            NumHiddenLayers = file.Optional("num_hidden_layers", d.NumHiddenLayers),
            NumAttentionHeads = file.Optional("num_attention_heads", d.NumAttentionHeads),
            MaxPositionEmbeddings = file.Optional("max_position_embeddings", d.MaxPositionEmbeddings),
            HiddenAct = file.Optional("hidden_act", d.HiddenAct),
            LayerNormEps = file.Optional("layer_norm_eps", d.LayerNormEps),
            AttentionDropout = file.Optional("attention_dropout", d.AttentionDropout),
            PadTokenId = file.Optional("pad_token_id", d.PadTokenId),
            BosTokenId = file.Optional("bos_token_id", d.BosTokenId),
            EosTokenId = file.Optional("eos_token_id", d.EosTokenId),
            Architectures = file.Optional<string[]>("architectures", []),
        };
        config.Validate(file.Path);
        return config;
    }

    /// <summary>Throws <see cref="DreamBoothException"/> (prefixed with <paramref name="source"/>) for values the model cannot use.</summary>
    public void Validate(string source)
    {
        static void Positive(string source, string key, int value)
        {
            if (value <= 0) throw new DreamBoothException($"{source}: '{key}' must be positive, not {value}.");
        }
        Positive(source, "vocab_size", VocabSize);
        Positive(source, "hidden_size", HiddenSize);
        Positive(source, "intermediate_size", IntermediateSize);
        Positive(source, "projection_dim", ProjectionDim);
        Positive(source, "num_hidden_layers", NumHiddenLayers);
        Positive(source, "num_attention_heads", NumAttentionHeads);
        Positive(source, "max_position_embeddings", MaxPositionEmbeddings);
        if (HiddenSize % NumAttentionHeads != 0)
            throw new DreamBoothException($"{source}: 'hidden_size' ({HiddenSize}) must be divisible by 'num_attention_heads' ({NumAttentionHeads}).");
        if (HiddenAct is not ("quick_gelu" or "gelu"))
            throw new DreamBoothException($"{source}: 'hidden_act' is '{HiddenAct}'; supported: quick_gelu, gelu.");
        if (!(LayerNormEps > 0)) throw new DreamBoothException($"{source}: 'layer_norm_eps' must be positive, not {LayerNormEps}.");
        if (AttentionDropout is < 0 or >= 1)
            throw new DreamBoothException($"{source}: 'attention_dropout' must be in [0, 1), not {AttentionDropout}.");
    }
}
