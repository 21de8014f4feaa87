// Mirrors transformers BaseModelOutputWithPooling / CLIPTextModelOutput (modeling_outputs.py, modeling_clip.py)
namespace DreamBooth.Models.Clip;

using static TorchSharp.torch;

/// <summary>
/// What a CLIP text encoder returns. Owns its tensors: dispose it (or let a dispose scope take them).
/// </summary>
/// <param name="LastHiddenState">[B, T, hidden]: the last layer's output after <c>final_layer_norm</c>.</param>
/// <param name="PooledOutput">[B, hidden]: <see cref="LastHiddenState"/> at each row's end-of-text token.</param>
/// <param name="HiddenStates">
/// num_hidden_layers + 1 tensors [B, T, hidden]: the embeddings, then each layer's output, all WITHOUT
/// <c>final_layer_norm</c> (transformers' <c>hidden_states</c> with <c>output_hidden_states=True</c>).
/// </param>
/// <param name="TextEmbeds">[B, projection_dim]: <c>text_projection(PooledOutput)</c>; only from <see cref="CLIPTextModelWithProjection"/>.</param>
public sealed record CLIPTextOutput(
    Tensor LastHiddenState,
    Tensor PooledOutput,
    IReadOnlyList<Tensor> HiddenStates,
    Tensor? TextEmbeds = null) : IDisposable
{
    /// <summary><c>hidden_states[-2]</c>: what SDXL conditions on (and SD's clip_skip=1 before final_layer_norm).</summary>
    public Tensor PenultimateHiddenState => HiddenStates[^2];

    /// <summary>
    /// <c>hidden_states[-(clipSkip + 1)]</c>, as diffusers' <c>encode_prompt</c> picks it for clip_skip; still without
    /// <c>final_layer_norm</c> (SD 1.x/2.x apply it via <see cref="CLIPTextEncoderBase.FinalLayerNorm"/>, SDXL does not).
    /// </summary>
    public Tensor HiddenStateForClipSkip(int clipSkip) =>
        clipSkip >= 0 && clipSkip < HiddenStates.Count
            ? HiddenStates[^(clipSkip + 1)]
            : throw new DreamBoothException($"clip_skip must be between 0 and {HiddenStates.Count - 1}, not {clipSkip}.");

    private IEnumerable<Tensor> All() =>
        new[] { LastHiddenState, PooledOutput }.Concat(HiddenStates).Concat(TextEmbeds is null ? [] : [TextEmbeds]);

    /// <summary>Moves every tensor to the dispose scope outside the current one (for use at the end of a forward).</summary>
    public CLIPTextOutput MoveToOuterDisposeScope()
    {
        foreach (var t in All()) t.MoveToOuterDisposeScope();
        return this;
    }

    /// <summary>Detaches every tensor from any dispose scope: the caller owns them.</summary>
    public CLIPTextOutput DetachFromDisposeScope()
    {
        foreach (var t in All()) t.DetachFromDisposeScope();
        return this;
    }

    public void Dispose()
    {
        foreach (var t in All().Distinct(ReferenceEqualityComparer.Instance).Cast<Tensor>()) t.Dispose();
    }
}
