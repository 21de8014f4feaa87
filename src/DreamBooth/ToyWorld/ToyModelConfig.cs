namespace DreamBooth.ToyWorld;

using System.Text.Json.Nodes;

/// <summary>
/// The sizes of the toy base model, a small member of the SD 1.x family: a 2-layer <c>CLIPTextModel</c> over the real
/// CLIP vocabulary, an <c>AutoencoderKL</c> with one downsampling (32×32 images ↔ 16×16×4 latents), and a
/// <c>UNet2DConditionModel</c> of about a million parameters. <see cref="ComponentConfigs"/> writes the diffusers /
/// transformers config.json of each component; the models are built from those files, so what is saved is what loads.
/// </summary>
public sealed record ToyModelConfig
{
    /// <summary>Image side in pixels (the VAE halves it for the UNet).</summary>
    public int ImageSize { get; init; } = 32;

    public int TextHiddenSize { get; init; } = 64;
    public int TextLayers { get; init; } = 2;
    public int TextHeads { get; init; } = 4;

    public IReadOnlyList<int> VaeChannels { get; init; } = [32, 64];
    public int LatentChannels { get; init; } = 4;

    public IReadOnlyList<int> UnetChannels { get; init; } = [32, 64, 64];
    public int UnetLayersPerBlock { get; init; } = 1;
    public int UnetHeads { get; init; } = 4;

    /// <summary>GroupNorm groups of the UNet and the VAE (divides every channel count).</summary>
    public int NormGroups { get; init; } = 8;

    /// <summary>A smaller model for tests and smoke runs (same structure, narrower).</summary>
    public static ToyModelConfig Tiny { get; } = new()
    {
        TextHiddenSize = 32, TextHeads = 2, VaeChannels = [8, 16], UnetChannels = [16, 32, 32], UnetHeads = 2,
    };

    /// <summary>Latent side (image side divided by the VAE's factor 2^(levels − 1)).</summary>
    public int LatentSize => ImageSize >> (VaeChannels.Count - 1);

    /// <summary>transformers CLIPTextConfig (SD 1.x's special-token ids, so the real CLIP tokenizer fits).</summary>
    public JsonObject TextEncoderJson()
    {
        var json = ClipTextJson(TextHiddenSize, TextHeads, TextLayers, TextHiddenSize);
        json["architectures"] = new JsonArray("CLIPTextModel");
        json["torch_dtype"] = "float16";
        return json;
    }

    /// <summary>
    /// The text tower of every toy model (the base's text encoder and the toy CLIP's text_config): CLIP's vocabulary
    /// and SD 1.x's special-token ids, pooled at the first end-of-text token, where the tokenizer puts it.
    /// </summary>
    internal static JsonObject ClipTextJson(int hiddenSize, int heads, int layers, int projectionDim) => new()
    {
        ["attention_dropout"] = 0.0,
        ["bos_token_id"] = 49406,
        ["eos_token_id"] = 49407,
        ["pad_token_id"] = 1,
        ["hidden_act"] = "quick_gelu",
        ["hidden_size"] = hiddenSize,
        ["intermediate_size"] = hiddenSize * 4,
        ["layer_norm_eps"] = 1e-5,
        ["max_position_embeddings"] = 77,
        ["model_type"] = "clip_text_model",
        ["num_attention_heads"] = heads,
        ["num_hidden_layers"] = layers,
        ["projection_dim"] = projectionDim,
        ["vocab_size"] = 49408,
    };

    /// <summary>diffusers AutoencoderKL config; <paramref name="scalingFactor"/> is measured after the VAE is trained.</summary>
    public JsonObject VaeJson(double scalingFactor) => new()
    {
        ["_class_name"] = "AutoencoderKL",
        ["_diffusers_version"] = "0.27.2",
        ["act_fn"] = "silu",
        ["block_out_channels"] = Ints(VaeChannels),
        ["down_block_types"] = Strings(VaeChannels.Select(_ => "DownEncoderBlock2D")),
        ["up_block_types"] = Strings(VaeChannels.Select(_ => "UpDecoderBlock2D")),
        ["force_upcast"] = false,
        ["in_channels"] = 3,
        ["out_channels"] = 3,
        ["latent_channels"] = LatentChannels,
        ["layers_per_block"] = 1,
        ["norm_num_groups"] = NormGroups,
        ["sample_size"] = ImageSize,
        ["scaling_factor"] = scalingFactor,
    };

    /// <summary>diffusers UNet2DConditionModel config: cross-attention in all but the deepest level, as SD 1.x.</summary>
    public JsonObject UnetJson()
    {
        int n = UnetChannels.Count;
        return new JsonObject
        {
            ["_class_name"] = "UNet2DConditionModel",
            ["_diffusers_version"] = "0.27.2",
            ["act_fn"] = "silu",
            ["attention_head_dim"] = UnetHeads,     // diffusers' historical name for the number of heads
            ["block_out_channels"] = Ints(UnetChannels),
            ["center_input_sample"] = false,
            ["cross_attention_dim"] = TextHiddenSize,
            ["down_block_types"] = Strings(Enumerable.Range(0, n).Select(i => i < n - 1 ? "CrossAttnDownBlock2D" : "DownBlock2D")),
            ["up_block_types"] = Strings(Enumerable.Range(0, n).Select(i => i == 0 ? "UpBlock2D" : "CrossAttnUpBlock2D")),
            ["downsample_padding"] = 1,
            ["flip_sin_to_cos"] = true,
            ["freq_shift"] = 0,
            ["in_channels"] = LatentChannels,
            ["out_channels"] = LatentChannels,
            ["layers_per_block"] = UnetLayersPerBlock,
            ["mid_block_scale_factor"] = 1,
            ["norm_eps"] = 1e-5,
            ["norm_num_groups"] = NormGroups,
            ["sample_size"] = LatentSize,
            ["use_linear_projection"] = false,
        };
    }

    /// <summary>SD 1.x's noise schedule (scaled_linear 0.00085 … 0.012 over 1000 steps), sampled with PNDM by default.</summary>
    public static JsonObject SchedulerJson() => new()
    {
        ["_class_name"] = "PNDMScheduler",
        ["_diffusers_version"] = "0.27.2",
        ["beta_end"] = 0.012,
        ["beta_schedule"] = "scaled_linear",
        ["beta_start"] = 0.00085,
        ["clip_sample"] = false,
        ["num_train_timesteps"] = 1000,
        ["prediction_type"] = "epsilon",
        ["set_alpha_to_one"] = false,
        ["skip_prk_steps"] = true,
        ["steps_offset"] = 1,
        ["trained_betas"] = null,
    };

    /// <summary>model_index.json of a StableDiffusionPipeline without safety checker.</summary>
    public static JsonObject ModelIndexJson() => DreamBooth.Training.PipelineWriter.DefaultIndex();

    private static JsonArray Ints(IEnumerable<int> values) => new([.. values.Select(v => (JsonNode?)v)]);

    private static JsonArray Strings(IEnumerable<string> values) => new([.. values.Select(v => (JsonNode?)v)]);
}
