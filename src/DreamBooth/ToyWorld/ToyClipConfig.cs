namespace DreamBooth.ToyWorld;

using System.Text.Json.Nodes;
using DreamBooth.Models.Clip;

/// <summary>
/// The sizes of the toy world's CLIP: a transformers <c>CLIPModel</c> whose vision tower is a small ViT over the toy
/// images (8-pixel patches of a 32×32 image) and whose text tower is a 2-layer transformer over the real CLIP
/// vocabulary and SD 1.5's tokenizer. <see cref="ConfigJson"/> and <see cref="PreprocessorJson"/> write the files a
/// CLIPModel folder holds; the model is built from those texts, so what is saved is what loads.
/// </summary>
public sealed record ToyClipConfig
{
    public int ImageSize { get; init; } = 32;

    /// <summary>8: a 4×4 grid of patches, as ViT-B/32 sees a 224-pixel image as 7×7; a quarter of the cost of 4-pixel patches.</summary>
    public int PatchSize { get; init; } = 8;

    public int VisionHiddenSize { get; init; } = 64;
    public int VisionLayers { get; init; } = 3;
    public int VisionHeads { get; init; } = 4;

    /// <summary>32 keeps the token table (49408 rows, the real vocabulary) at 3 MB in float16.</summary>
    public int TextHiddenSize { get; init; } = 32;
    public int TextLayers { get; init; } = 2;
    public int TextHeads { get; init; } = 2;

    /// <summary>Width of the joint image–text space.</summary>
    public int ProjectionDim { get; init; } = 64;

    /// <summary>A smaller model for tests and smoke runs (same structure, narrower and shallower).</summary>
    public static ToyClipConfig Tiny { get; } = new()
    {
        VisionHiddenSize = 16, VisionLayers = 1, VisionHeads = 2, TextHiddenSize = 16, TextLayers = 1, ProjectionDim = 16,
    };

    /// <summary>CLIP's initial temperature, log(1 / 0.07), as transformers' logit_scale_init_value.</summary>
    public const double LogitScaleInit = 2.6592;

    /// <summary>
    /// transformers' CLIPConfig, sub-configs written in full. The text tower takes SD 1.x's special-token ids and pools
    /// at the first end-of-text token (eos_token_id 49407, not the legacy 2), which is where the tokenizer puts it.
    /// </summary>
    public JsonObject ConfigJson() => new()
    {
        ["architectures"] = new JsonArray("CLIPModel"),
        ["initializer_factor"] = 1.0,
        ["logit_scale_init_value"] = LogitScaleInit,
        ["model_type"] = "clip",
        ["projection_dim"] = ProjectionDim,
        ["text_config"] = ToyModelConfig.ClipTextJson(TextHiddenSize, TextHeads, TextLayers, ProjectionDim),
        ["vision_config"] = new JsonObject
        {
            ["attention_dropout"] = 0.0,
            ["hidden_act"] = "quick_gelu",
            ["hidden_size"] = VisionHiddenSize,
            ["image_size"] = ImageSize,
            ["intermediate_size"] = VisionHiddenSize * 4,
            ["layer_norm_eps"] = 1e-5,
            ["model_type"] = "clip_vision_model",
            ["num_attention_heads"] = VisionHeads,
            ["num_channels"] = 3,
            ["num_hidden_layers"] = VisionLayers,
            ["patch_size"] = PatchSize,
            ["projection_dim"] = ProjectionDim,
        },
        // The weights are stored in half precision to keep the folder small; transformers and this project load them as float32.
        ["torch_dtype"] = "float16",
    };

    /// <summary>
    /// transformers' CLIPImageProcessor at the toy size: shortest edge to <see cref="ImageSize"/> (bicubic), centre
    /// crop, rescale by 1/255, OpenAI's mean and std, so larger generated images are scored as CLIP would score them.
    /// </summary>
    public JsonObject PreprocessorJson() => new()
    {
        ["crop_size"] = new JsonObject { ["height"] = ImageSize, ["width"] = ImageSize },
        ["do_center_crop"] = true,
        ["do_convert_rgb"] = true,
        ["do_normalize"] = true,
        ["do_rescale"] = true,
        ["do_resize"] = true,
        ["image_mean"] = Doubles(CLIPImageProcessor.Defaults.ImageMean),
        ["image_std"] = Doubles(CLIPImageProcessor.Defaults.ImageStd),
        ["image_processor_type"] = "CLIPImageProcessor",
        ["resample"] = (int)CLIPImageProcessor.Defaults.Resample,
        ["rescale_factor"] = 1.0 / 255,
        ["size"] = new JsonObject { ["shortest_edge"] = ImageSize },
    };

    private static JsonArray Doubles(IEnumerable<double> values) => new([.. values.Select(v => (JsonNode?)v)]);
}
