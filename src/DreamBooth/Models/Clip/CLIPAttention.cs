// Mirrors transformers src/transformers/models/clip/modeling_clip.py::CLIPAttention (eager path)
namespace DreamBooth.Models.Clip;

using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>Multi-head self-attention with an additive mask (the causal mask of the text tower).</summary>
public sealed class CLIPAttention : Module<Tensor, Tensor, Tensor>
{
    // Declared in transformers' order so state_dict() lists keys as it does. Typed as modules, not Linear, so a
    // LoRA wrapper can take a projection's place.
    private readonly Module<Tensor, Tensor> k_proj;
    private readonly Module<Tensor, Tensor> v_proj;
    private readonly Module<Tensor, Tensor> q_proj;
    private readonly Module<Tensor, Tensor> out_proj;
    private readonly long numHeads;
    private readonly long headDim;
    private readonly double scale;
    private readonly double dropout;

    public CLIPAttention(CLIPTextConfig config, Device device, ScalarType dtype) : base(nameof(CLIPAttention))
    {
        long embedDim = config.HiddenSize;
        k_proj = UninitializedLayers.Linear(embedDim, embedDim, bias: true, device, dtype);
        v_proj = UninitializedLayers.Linear(embedDim, embedDim, bias: true, device, dtype);
        q_proj = UninitializedLayers.Linear(embedDim, embedDim, bias: true, device, dtype);
        out_proj = UninitializedLayers.Linear(embedDim, embedDim, bias: true, device, dtype);
        numHeads = config.NumAttentionHeads;
        headDim = config.HeadDim;
        scale = Math.Pow(headDim, -0.5);
        dropout = config.AttentionDropout;
        RegisterComponents();
    }

    /// <param name="hiddenStates">[B, T, C]</param>
    /// <param name="attentionMask">Additive, broadcastable to [B, heads, T, T] (0 = attend, finfo.min = blocked).</param>
    /// <returns>[B, T, C]</returns>
    public override Tensor forward(Tensor hiddenStates, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        long b = hiddenStates.shape[0], t = hiddenStates.shape[1], c = hiddenStates.shape[2];

        // transformers scales q before the product (not the scores): same rounding as the reference.
        var q = SplitHeads(q_proj.call(hiddenStates) * scale, b, t);        // [B, heads, T, d]
        var k = SplitHeads(k_proj.call(hiddenStates), b, t);                // [B, heads, T, d]
        var v = SplitHeads(v_proj.call(hiddenStates), b, t);                // [B, heads, T, d]

        var weights = Ops.Add(q.matmul(k.transpose(-1, -2)), attentionMask);        // [B, heads, T, T]
        var probs = functional.softmax(weights, -1);
        if (dropout > 0) probs = functional.dropout(probs, dropout, training);
        var output = probs.matmul(v)                                        // [B, heads, T, d]
            .transpose(1, 2)                                                // [B, T, heads, d]
            .reshape(b, t, c);                                              // [B, T, C]
        return out_proj.call(output).MoveToOuterDisposeScope();
    }

    private Tensor SplitHeads(Tensor x, long b, long t) =>
        x.view(b, t, numHeads, headDim).transpose(1, 2);                    // [B, T, C] -> [B, heads, T, d]
}
