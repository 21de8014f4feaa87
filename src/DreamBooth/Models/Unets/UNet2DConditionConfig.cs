// Mirrors the config.json of diffusers src/diffusers/models/unets/unet_2d_condition.py::UNet2DConditionModel (0.27.2).
namespace DreamBooth.Models.Unets;

using System.Text.Json.Nodes;
using DreamBooth.Loading;

/// <summary>
/// The subset of UNet2DConditionModel options that SD 1.x, 2.x and XL use, with per-block values already expanded to
/// one entry per down block. Defaults are diffusers' constructor defaults (old configs omit many keys).
/// </summary>
public sealed record UNet2DConditionConfig
{
    public int? SampleSize { get; init; }
    public int InChannels { get; init; } = 4;
    public int OutChannels { get; init; } = 4;
    public bool CenterInputSample { get; init; }
    public bool FlipSinToCos { get; init; } = true;
    public double FreqShift { get; init; }
    public IReadOnlyList<string> DownBlockTypes { get; init; } =
        ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"];
    public IReadOnlyList<string> UpBlockTypes { get; init; } =
        ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"];
    /// <summary>Largest channel count we build: 8× SDXL's widest level; a conv of this width already weighs 2.4 GB.</summary>
    public const int MaxChannels = 10_240;

    public IReadOnlyList<int> BlockOutChannels { get; init; } = [320, 640, 1280, 1280];
    public IReadOnlyList<int> LayersPerBlock { get; init; } = [2, 2, 2, 2];
    public int DownsamplePadding { get; init; } = 1;
    public double MidBlockScaleFactor { get; init; } = 1.0;
    public double Dropout { get; init; }
    public int NormNumGroups { get; init; } = 32;
    /// <summary>eps of the resnets' GroupNorms and of conv_norm_out (the Transformer2D GroupNorm always uses 1e-6).</summary>
    public double NormEps { get; init; } = 1e-5;
    public IReadOnlyList<int> CrossAttentionDim { get; init; } = [1280, 1280, 1280, 1280];
    public IReadOnlyList<int> TransformerLayersPerBlock { get; init; } = [1, 1, 1, 1];
    /// <summary>Heads per down block (already resolved from attention_head_dim, see <see cref="FromConfig"/>).</summary>
    public IReadOnlyList<int> NumAttentionHeads { get; init; } = [8, 8, 8, 8];
    public bool UseLinearProjection { get; init; }
    public bool UpcastAttention { get; init; }
    /// <summary>null, or "text_time" (SDXL: pooled text embedding + micro-conditioning time ids).</summary>
    public string? AdditionEmbedType { get; init; }
    public int? AdditionTimeEmbedDim { get; init; }
    public int? ProjectionClassEmbeddingsInputDim { get; init; }
    public int? TimeEmbeddingDim { get; init; }
    public int ConvInKernel { get; init; } = 3;
    public int ConvOutKernel { get; init; } = 3;

    /// <summary>Width of the time embedding the resnets receive (4 × block_out_channels[0] unless set).</summary>
    public int TimeEmbedDim => TimeEmbeddingDim ?? BlockOutChannels[0] * 4;

    public static UNet2DConditionConfig Load(string path) => FromConfig(ConfigFile.Load(path));

    /// <summary>
    /// Reads a diffusers unet/config.json. Unknown keys are ignored; options this implementation does not have (or that
    /// diffusers would honour with different weights or math) are refused with the key named.
    /// </summary>
    public static UNet2DConditionConfig FromConfig(ConfigFile c)
    {
        RejectUnsupported(c);
        var down = c.Optional<string[]>("down_block_types", [.. new UNet2DConditionConfig().DownBlockTypes]).Select(StripResPrefix).ToArray();
        var up = c.Optional<string[]>("up_block_types", [.. new UNet2DConditionConfig().UpBlockTypes]).Select(StripResPrefix).ToArray();
        var channels = c.Optional<int[]>("block_out_channels", [320, 640, 1280, 1280]);
        int n = down.Length;
        if (up.Length != n)
            throw new DreamBoothException($"{c.Path}: 'up_block_types' has {up.Length} entries but 'down_block_types' has {n}.");
        if (channels.Length != n)
            throw new DreamBoothException($"{c.Path}: 'block_out_channels' has {channels.Length} entries but 'down_block_types' has {n}.");
        // Channel counts size the weights: a negative one failed inside libtorch, a huge one asked for terabytes.
        if (channels.Where(ch => ch is < 1 or > MaxChannels).Select(ch => (int?)ch).FirstOrDefault() is int bad)
            throw new DreamBoothException($"{c.Path}: 'block_out_channels' entry {bad} is out of range (1 to {MaxChannels:N0}; SDXL's largest is 1,280).");
        foreach (var (key, types, known) in new[] { ("down_block_types", down, DownTypes), ("up_block_types", up, UpTypes) })
            foreach (var t in types)
                if (!known.Contains(t))
                    throw new DreamBoothException($"{c.Path}: '{key}' entry '{t}' is not supported (supported: {string.Join(", ", known)}).");

        if (c.Json["transformer_layers_per_block"] is JsonArray tl && tl.Any(e => e is JsonArray))
            throw new DreamBoothException($"{c.Path}: 'transformer_layers_per_block' with per-layer lists (asymmetric UNet) is not supported.");

        // diffusers quirk (its issue #2011): 'attention_head_dim' was misnamed long ago and in these UNets it is the number
        // of heads. diffusers resolves `num_attention_heads = num_attention_heads or attention_head_dim` and builds every
        // attention with heads = that value and head size = channels / heads. (0.27.2 itself refuses a non-null
        // num_attention_heads for this class; we accept it, since it can only mean the head count.)
        var heads = c.Has("num_attention_heads") ? c.IntOrList("num_attention_heads", n) : c.IntOrList("attention_head_dim", n, 8);
        string headsKey = c.Has("num_attention_heads") ? "num_attention_heads" : "attention_head_dim";
        for (int i = 0; i < n; i++)
            if (heads[i] <= 0 || channels[i] % heads[i] != 0)
                throw new DreamBoothException($"{c.Path}: '{headsKey}' = {heads[i]} heads does not divide block_out_channels[{i}] = {channels[i]}.");

        var config = new UNet2DConditionConfig
        {
            SampleSize = c.Json["sample_size"] is JsonArray ? null : c.Optional<int?>("sample_size", null),
            InChannels = c.Optional("in_channels", 4),
            OutChannels = c.Optional("out_channels", 4),
            CenterInputSample = c.Optional("center_input_sample", false),
            FlipSinToCos = c.Optional("flip_sin_to_cos", true),
            FreqShift = c.Optional("freq_shift", 0.0),
            DownBlockTypes = down,
            UpBlockTypes = up,
            BlockOutChannels = channels,
            LayersPerBlock = c.IntOrList("layers_per_block", n, 2),
            DownsamplePadding = c.Optional("downsample_padding", 1),
            MidBlockScaleFactor = c.Optional("mid_block_scale_factor", 1.0),
            Dropout = c.Optional("dropout", 0.0),
            NormNumGroups = c.Optional("norm_num_groups", 32),
            NormEps = c.Optional("norm_eps", 1e-5),
            CrossAttentionDim = c.IntOrList("cross_attention_dim", n, 1280),
            TransformerLayersPerBlock = c.IntOrList("transformer_layers_per_block", n, 1),
            NumAttentionHeads = heads,
            UseLinearProjection = c.Optional("use_linear_projection", false),
            UpcastAttention = c.Optional("upcast_attention", false),   // SDXL writes null: false
            AdditionEmbedType = c.Optional<string?>("addition_embed_type", null),
            AdditionTimeEmbedDim = c.Optional<int?>("addition_time_embed_dim", null),
            ProjectionClassEmbeddingsInputDim = c.Optional<int?>("projection_class_embeddings_input_dim", null),
            TimeEmbeddingDim = c.Optional<int?>("time_embedding_dim", null),
            ConvInKernel = c.Optional("conv_in_kernel", 3),
            ConvOutKernel = c.Optional("conv_out_kernel", 3),
        };
        if (config.AdditionEmbedType == "text_time")
        {
            if (config.AdditionTimeEmbedDim is null)
                throw new DreamBoothException($"{c.Path}: 'addition_embed_type' \"text_time\" needs 'addition_time_embed_dim'.");
            if (config.ProjectionClassEmbeddingsInputDim is null)
                throw new DreamBoothException($"{c.Path}: 'addition_embed_type' \"text_time\" needs 'projection_class_embeddings_input_dim'.");
        }
        return config;
    }

    private static readonly string[] DownTypes = ["DownBlock2D", "CrossAttnDownBlock2D"];
    private static readonly string[] UpTypes = ["UpBlock2D", "CrossAttnUpBlock2D"];

    // diffusers' get_down_block/get_up_block accept e.g. "UNetResDownBlock2D" for "DownBlock2D".
    private static string StripResPrefix(string type) => type.StartsWith("UNetRes", StringComparison.Ordinal) ? type[7..] : type;

    /// <summary>Options that change the architecture or the math in ways this implementation does not reproduce.</summary>
    private static void RejectUnsupported(ConfigFile c)
    {
        void Expect<T>(string key, T expected, params T[] alsoAccepted)
        {
            if (!c.Has(key)) return;                                  // absent or null: diffusers' default applies
            var value = c.Optional(key, expected);
            if (!EqualityComparer<T>.Default.Equals(value, expected) && !alsoAccepted.Contains(value))
                throw new DreamBoothException($"{c.Path}: '{key}' = {c.Json[key]!.ToJsonString()} is not supported " +
                                              $"(supported: {string.Join(" or ", new[] { expected }.Concat(alsoAccepted))}).");
        }
        void ExpectNull(string key)
        {
            if (c.Has(key))
                throw new DreamBoothException($"{c.Path}: '{key}' = {c.Json[key]!.ToJsonString()} is not supported (only null).");
        }

        ExpectNull("class_embed_type");
        ExpectNull("num_class_embeds");
        ExpectNull("encoder_hid_dim");
        ExpectNull("encoder_hid_dim_type");
        ExpectNull("time_cond_proj_dim");
        ExpectNull("time_embedding_act_fn");
        ExpectNull("timestep_post_act");
        ExpectNull("reverse_transformer_layers_per_block");
        if (c.Has("addition_embed_type")) Expect("addition_embed_type", "text_time");
        Expect("resnet_time_scale_shift", "default");
        Expect("time_embedding_type", "positional");
        Expect("attention_type", "default");
        Expect("act_fn", "silu", "swish");
        Expect("mid_block_type", "UNetMidBlock2DCrossAttn");
        Expect("dual_cross_attention", false);
        Expect("class_embeddings_concat", false);
        if (c.Json["only_cross_attention"] is JsonArray flags ? flags.Any(f => f?.GetValue<bool>() == true) : c.Optional("only_cross_attention", false))
            throw new DreamBoothException($"{c.Path}: 'only_cross_attention' = true is not supported.");
        if (c.Json.ContainsKey("mid_block_type") && c.Json["mid_block_type"] is null)
            throw new DreamBoothException($"{c.Path}: 'mid_block_type' = null (no mid block) is not supported.");
        if (c.Json.ContainsKey("norm_num_groups") && c.Json["norm_num_groups"] is null)
            throw new DreamBoothException($"{c.Path}: 'norm_num_groups' = null is not supported.");
        // Not checked because diffusers passes them only to block types we refuse anyway: resnet_skip_time_act,
        // resnet_out_scale_factor, cross_attention_norm, mid_block_only_cross_attention, addition_embed_type_num_heads.
    }
}
