// Mirrors diffusers src/diffusers/models/attention.py::BasicTransformerBlock
// (norm_type="layer_norm", activation_fn="geglu", only_cross_attention=False, no positional embeddings, no GLIGEN).
namespace DreamBooth.Models;

using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>Pre-norm transformer layer on tokens [B, N, dim]: self-attention, cross-attention on the text, GEGLU MLP.</summary>
public sealed class BasicTransformerBlock : Module<Tensor, Tensor?, Tensor>
{
    private const double NormEps = 1e-5;
    private readonly Modules.LayerNorm norm1;
    private readonly Attention attn1;
    private readonly Modules.LayerNorm norm2;
    private readonly Attention attn2;
    private readonly Modules.LayerNorm norm3;
    private readonly FeedForward ff;

    /// <param name="crossAttentionDim">Width of the text context; null makes attn2 a second self-attention.</param>
    public BasicTransformerBlock(long dim, long numAttentionHeads, long attentionHeadDim, long? crossAttentionDim,
                                 bool upcastAttention = false, double dropout = 0.0, Device? device = null, ScalarType? dtype = null)
        : base(nameof(BasicTransformerBlock))
    {
        norm1 = Layers.LayerNorm(dim, NormEps, device: device, dtype: dtype);
        attn1 = new Attention(dim, null, numAttentionHeads, attentionHeadDim, dropout, bias: false,
                              upcastAttention: upcastAttention, device: device, dtype: dtype);
        norm2 = Layers.LayerNorm(dim, NormEps, device: device, dtype: dtype);
        attn2 = new Attention(dim, crossAttentionDim, numAttentionHeads, attentionHeadDim, dropout, bias: false,
                              upcastAttention: upcastAttention, device: device, dtype: dtype);
        norm3 = Layers.LayerNorm(dim, NormEps, device: device, dtype: dtype);
        ff = new FeedForward(dim, dropout, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <param name="hiddenStates">[B, N, dim].</param>
    /// <param name="encoderHiddenStates">[B, M, crossAttentionDim] text context (null: attn2 attends to itself).</param>
    public override Tensor forward(Tensor hiddenStates, Tensor? encoderHiddenStates)
    {
        using var scope = NewDisposeScope();
        var h = Ops.Add(attn1.call(norm1.call(hiddenStates), null), hiddenStates);
        h = Ops.Add(attn2.call(norm2.call(h), encoderHiddenStates), h);
        h = Ops.Add(ff.call(norm3.call(h)), h);
        return h.MoveToOuterDisposeScope();
    }
}
