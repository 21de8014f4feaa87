// Mirrors transformers src/transformers/models/vit/modeling_vit.py::ViTSelfAttention (eager path)
namespace DreamBooth.Models.Vit;

using DreamBooth.Models.Clip;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>Multi-head self-attention over all tokens (no mask); the output projection lives in <see cref="ViTSelfOutput"/>.</summary>
public sealed class ViTSelfAttention : Module<Tensor, Tensor>
{
    private readonly Modules.Linear query;
    private readonly Modules.Linear key;
    private readonly Modules.Linear value;
    private readonly long numHeads;
    private readonly long headDim;

    public ViTSelfAttention(ViTConfig config, Device device, ScalarType dtype) : base(nameof(ViTSelfAttention))
    {
        query = UninitializedLayers.Linear(config.HiddenSize, config.HiddenSize, config.QkvBias, device, dtype);
        key = UninitializedLayers.Linear(config.HiddenSize, config.HiddenSize, config.QkvBias, device, dtype);
        value = UninitializedLayers.Linear(config.HiddenSize, config.HiddenSize, config.QkvBias, device, dtype);
        numHeads = config.NumAttentionHeads;
        headDim = config.HeadDim;
        RegisterComponents();
    }

    /// <param name="hiddenStates">[B, T, C]</param>
    /// <returns>[B, T, C]: the heads' context vectors, concatenated.</returns>
    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        long b = hiddenStates.shape[0], t = hiddenStates.shape[1], c = hiddenStates.shape[2];
        var q = SplitHeads(query.call(hiddenStates), b, t);                  // [B, heads, T, d]
        var k = SplitHeads(key.call(hiddenStates), b, t);
        var v = SplitHeads(value.call(hiddenStates), b, t);
        // ViT divides the scores (CLIP scales q instead): same rounding as the reference.
        var scores = q.matmul(k.transpose(-1, -2)) / Math.Sqrt(headDim);    // [B, heads, T, T]
        var probs = functional.softmax(scores, -1);
        return probs.matmul(v).transpose(1, 2).reshape(b, t, c).MoveToOuterDisposeScope();
    }

    private Tensor SplitHeads(Tensor x, long b, long t) => x.view(b, t, numHeads, headDim).transpose(1, 2);
}
