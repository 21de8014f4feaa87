// What CLIPTextModel and CLIPTextModelWithProjection share (transformers' CLIPPreTrainedModel plays this part): the
// text-encoder module the SD / SDXL pipelines and training use.
namespace DreamBooth.Models.Clip;

using DreamBooth.Loading;
using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

/// <summary>
/// A CLIP text encoder: [B, T] token ids → <see cref="CLIPTextOutput"/>. Subclasses hold their submodules in fields
/// named like transformers' attributes (the state_dict keys) and call <c>RegisterComponents()</c> last.
/// </summary>
public abstract class CLIPTextEncoderBase : Module<Tensor, CLIPTextOutput>
{
    protected CLIPTextEncoderBase(string name, CLIPTextConfig config) : base(name) => Config = config;

    public CLIPTextConfig Config { get; }

    /// <summary>Number of elements in all parameters.</summary>
    public long ParameterCount => StateDictLoader.ParameterCount(this);

    /// <summary>
    /// transformers' <c>gradient_checkpointing_enable()</c>: while the encoder is in training mode and grad is enabled,
    /// each encoder layer runs through <see cref="Checkpoint"/> and is recomputed in backward (same outputs
    /// and gradients, less activation memory). No effect in eval mode or under no_grad.
    /// </summary>
    public bool GradientCheckpointing
    {
        get => gradientCheckpointing;
        set => BlockCheckpointing.SetAll(this, gradientCheckpointing = value);
    }

    private bool gradientCheckpointing;

    /// <summary>
    /// Runs the encoder on [B, T] token ids (T ≤ max_position_embeddings, padded like the tokenizer pads).
    /// Gradients follow the caller's mode: wrap in <c>no_grad()</c> for inference.
    /// </summary>
    public CLIPTextOutput Encode(Tensor inputIds) => call(inputIds);

    /// <summary>The encoder's final LayerNorm, for clip_skip (diffusers normalises the chosen hidden state again).</summary>
    public abstract Tensor FinalLayerNorm(Tensor hiddenStates);

    /// <summary>
    /// Loads <c>config.json</c> + <c>model[.variant].safetensors</c> (or shards) from a component folder into the
    /// model <paramref name="create"/> builds, strictly; <paramref name="ignore"/> names file keys with no parameter.
    /// </summary>
    protected static T LoadFolder<T>(string componentDir, Device? device, ScalarType dtype, string? variant,
                                     Func<CLIPTextConfig, Device, ScalarType, T> create, Func<string, bool> ignore)
        where T : CLIPTextEncoderBase
    {
        TorchRuntime.EnsureLoaded();
        if (dtype is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64))
            throw new DreamBoothException($"Text encoder dtype must be float32, float16, bfloat16 or float64, not {dtype}.");
        var config = CLIPTextConfig.Load(Path.Combine(componentDir, "config.json"));
        var files = WeightFiles.Find(componentDir, "model", variant);
        // Built with empty parameters on the target device, then filled in place: one copy of the weights.
        return StateDictLoader.LoadNew(() => create(config, device ?? CPU, dtype), files, componentDir, ignore: ignore);
    }
}
