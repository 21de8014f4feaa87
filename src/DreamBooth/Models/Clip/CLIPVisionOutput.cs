// Mirrors transformers BaseModelOutputWithPooling / CLIPVisionModelOutput (modeling_outputs.py, modeling_clip.py)
namespace DreamBooth.Models.Clip;

using static TorchSharp.torch;

/// <summary>What the CLIP vision tower returns. Owns its tensors: dispose it (or let a dispose scope take them).</summary>
/// <param name="LastHiddenState">[B, patches + 1, hidden]: the last encoder layer's output (no post_layernorm).</param>
/// <param name="PooledOutput">[B, hidden]: <c>post_layernorm</c> of the class token.</param>
public sealed record CLIPVisionOutput(Tensor LastHiddenState, Tensor PooledOutput) : IDisposable
{
    /// <summary>Moves both tensors to the dispose scope outside the current one (for use at the end of a forward).</summary>
    public CLIPVisionOutput MoveToOuterDisposeScope()
    {
        LastHiddenState.MoveToOuterDisposeScope();
        PooledOutput.MoveToOuterDisposeScope();
        return this;
    }

    public void Dispose()
    {
        LastHiddenState.Dispose();
        PooledOutput.Dispose();
    }
}
