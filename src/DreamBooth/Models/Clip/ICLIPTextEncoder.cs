// The text-encoder contract the SD / SDXL pipelines use; implemented by CLIPTextModel and CLIPTextModelWithProjection.
namespace DreamBooth.Models.Clip;

using static TorchSharp.torch;

public interface ICLIPTextEncoder : IDisposable
{
    CLIPTextConfig Config { get; }

    /// <summary>Number of elements in all parameters.</summary>
    long ParameterCount { get; }

    /// <summary>
    /// transformers' <c>gradient_checkpointing_enable()</c>: while the encoder is in training mode and grad is enabled,
    /// each encoder layer runs through <see cref="Checkpoint"/> and is recomputed in backward (same outputs
    /// and gradients, less activation memory). No effect in eval mode or under no_grad.
    /// </summary>
    bool GradientCheckpointing { get; set; }

    /// <summary>
    /// Runs the encoder on [B, T] token ids (T ≤ max_position_embeddings, padded like the tokenizer pads).
    /// Gradients follow the caller's mode: wrap in <c>no_grad()</c> for inference.
    /// </summary>
    CLIPTextOutput Encode(Tensor inputIds);

    /// <summary>The encoder's final LayerNorm, for clip_skip (diffusers normalises the chosen hidden state again).</summary>
    Tensor FinalLayerNorm(Tensor hiddenStates);
}
