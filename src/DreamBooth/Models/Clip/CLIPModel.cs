// Mirrors transformers src/transformers/models/clip/modeling_clip.py::CLIPModel
namespace DreamBooth.Models.Clip;

using DreamBooth.Loading;
using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>
/// CLIP with both towers and their bias-free projections into one embedding space (e.g. openai/clip-vit-base-patch32,
/// the model of the DreamBooth paper's CLIP-I and CLIP-T). Parameters start uninitialised: use
/// <see cref="FromPretrained"/>, or construct on the meta device to inspect keys and shapes.
/// </summary>
public sealed class CLIPModel : Module<Tensor, Tensor, CLIPOutput>
{
    // Own parameter first: transformers' state_dict lists a module's parameters before its children's.
    private readonly Modules.Parameter logit_scale;            // [] (a log: the multiplier is exp(logit_scale))
    private readonly CLIPTextTransformer text_model;
    private readonly CLIPVisionTransformer vision_model;
    private readonly Modules.Linear visual_projection;         // [projection_dim, vision hidden], no bias
    private readonly Modules.Linear text_projection;           // [projection_dim, text hidden], no bias

    public CLIPModel(CLIPConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32) : base(nameof(CLIPModel))
    {
        Config = config;
        var dev = device ?? CPU;
        logit_scale = new Modules.Parameter(empty(Array.Empty<long>(), dtype, dev));
        text_model = new CLIPTextTransformer(config.Text, dev, dtype);
        vision_model = new CLIPVisionTransformer(config.Vision, dev, dtype);
        visual_projection = UninitializedLayers.Linear(config.Vision.HiddenSize, config.ProjectionDim, bias: false, dev, dtype);
        text_projection = UninitializedLayers.Linear(config.Text.HiddenSize, config.ProjectionDim, bias: false, dev, dtype);
        RegisterComponents();
    }

    public CLIPConfig Config { get; }

    /// <summary>Number of elements in all parameters.</summary>
    public long ParameterCount => StateDictLoader.ParameterCount(this);

    /// <summary>exp(logit_scale): the temperature that turns cosines into logits.</summary>
    public double LogitScale => Math.Exp(logit_scale.to(ScalarType.Float64).item<double>());

    /// <summary>Loads <c>config.json</c> + <c>model[.variant].safetensors</c> (or shards) from a CLIPModel folder, strictly.</summary>
    public static CLIPModel FromPretrained(string folder, Device? device = null, ScalarType dtype = ScalarType.Float32, string? variant = null)
    {
        TorchRuntime.EnsureLoaded();
        var config = CLIPConfig.Load(Path.Combine(folder, "config.json"));
        var files = WeightFiles.Find(folder, "model", variant);
        return StateDictLoader.LoadNew(() => new CLIPModel(config, device, dtype), files, folder,
            ignore: key => CLIPTextTransformer.IsIgnoredCheckpointKey(key) || CLIPVisionTransformer.IsIgnoredCheckpointKey(key));
    }

    /// <summary>The vision tower's outputs (last hidden state, pooled class token).</summary>
    public CLIPVisionOutput EncodeImages(Tensor pixelValues) => vision_model.call(pixelValues);

    /// <summary>The text tower's outputs; pooling follows the text config's eos_token_id (argmax of the ids when it is 2).</summary>
    public CLIPTextOutput EncodeText(Tensor inputIds) => text_model.call(inputIds);

    /// <summary>
    /// <c>get_image_features</c>: visual_projection of the pooled output, [B, projection_dim], NOT normalised.
    /// </summary>
    /// <param name="pixelValues">[B, 3, image_size, image_size] from <see cref="CLIPImageProcessor"/>.</param>
    public Tensor GetImageFeatures(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var output = vision_model.call(pixelValues);
        return visual_projection.call(output.PooledOutput).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <c>get_text_features</c>: text_projection of the pooled output, [B, projection_dim], NOT normalised. Padding after
    /// the end-of-text token needs no attention mask: the causal mask already hides later positions from the pooled one.
    /// </summary>
    /// <param name="inputIds">[B, T] token ids (T ≤ max_position_embeddings).</param>
    public Tensor GetTextFeatures(Tensor inputIds)
    {
        using var scope = NewDisposeScope();
        var output = text_model.call(inputIds);
        return text_projection.call(output.PooledOutput).MoveToOuterDisposeScope();
    }

    /// <summary>Both towers, normalised embeddings and the scaled cosine logits.</summary>
    public override CLIPOutput forward(Tensor inputIds, Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var image = Normalize(GetImageFeatures(pixelValues));                  // [I, P]
        var text = Normalize(GetTextFeatures(inputIds));                        // [T, P]
        var logitsPerText = text.matmul(image.t()) * logit_scale.exp();        // [T, I]
        var logitsPerImage = logitsPerText.t();                                 // [I, T]
        var result = new CLIPOutput(logitsPerImage, logitsPerText, text, image);
        foreach (var t in new[] { logitsPerImage, logitsPerText, text, image }) t.MoveToOuterDisposeScope();
        return result;
    }

    // transformers divides by the L2 norm (no epsilon).
    private static Tensor Normalize(Tensor x) => x / x.norm(-1, keepdim: true);
}
