// Mirrors diffusers src/diffusers/models/attention_processor.py::Attention with AttnProcessor2_0
// (scaled_dot_product_attention) or, with AttentionKernel.Math, AttnProcessor (baddbmm, softmax, bmm). Covers the UNet's self/cross attention and the VAE's mid-block attention
// (group_norm + residual connection on 4-D input).
namespace DreamBooth.Models;

using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>Which kernel computes softmax(Q·Kᵀ/√d)·V.</summary>
public enum AttentionKernel
{
    /// <summary>libtorch's fused scaled_dot_product_attention (diffusers' AttnProcessor2_0 on PyTorch ≥ 2): no score matrix kept.</summary>
    Sdpa,

    /// <summary>
    /// diffusers' AttnProcessor (PyTorch &lt; 2): baddbmm with the scale, softmax, bmm. The arithmetic of the reference
    /// training runs; it materialises the B·heads·N·M score matrix, so it needs more memory at full size.
    /// </summary>
    Math,
}

/// <summary>Multi-head scaled-dot-product attention: self-attention, or cross-attention on a context (the text) when one is passed.</summary>
public sealed class Attention : Module<Tensor, Tensor?, Tensor>
{
    private readonly Modules.GroupNorm? group_norm;
    // Typed as modules, not Linear, so a LoRA wrapper can take a projection's place.
    private readonly Module<Tensor, Tensor> to_q;
    private readonly Module<Tensor, Tensor> to_k;
    private readonly Module<Tensor, Tensor> to_v;
    private readonly Modules.ModuleList<Module<Tensor, Tensor>> to_out;   // [Linear, Dropout]: keys to_out.0.*
    private readonly long heads;
    private readonly long innerDim;
    private readonly bool upcast;
    private readonly bool residualConnection;
    private readonly double rescaleOutputFactor;

    public Attention(long queryDim, long? crossAttentionDim = null, long heads = 8, long dimHead = 64,
                     double dropout = 0.0, bool bias = false, bool outBias = true, bool upcastAttention = false,
                     int? normNumGroups = null, double eps = 1e-5, bool residualConnection = false,
                     double rescaleOutputFactor = 1.0, Device? device = null, ScalarType? dtype = null)
        : base(nameof(Attention))
    {
        long inner = heads * dimHead;
        long kvDim = crossAttentionDim ?? queryDim;
        group_norm = normNumGroups is int g ? Layers.GroupNorm(g, queryDim, eps, device, dtype) : null;
        to_q = Linear(queryDim, inner, hasBias: bias, device: device, dtype: dtype);
        to_k = Linear(kvDim, inner, hasBias: bias, device: device, dtype: dtype);
        to_v = Linear(kvDim, inner, hasBias: bias, device: device, dtype: dtype);
        to_out = new Modules.ModuleList<Module<Tensor, Tensor>>(
            Linear(inner, queryDim, hasBias: outBias, device: device, dtype: dtype), Dropout(dropout));
        this.heads = heads;
        innerDim = inner;
        upcast = upcastAttention;
        this.residualConnection = residualConnection;
        this.rescaleOutputFactor = rescaleOutputFactor;
        RegisterComponents();
    }

    public override Tensor forward(Tensor hiddenStates, Tensor? encoderHiddenStates)
    {
        using var scope = NewDisposeScope();
        var residual = hiddenStates;
        var x = hiddenStates;
        long b = x.shape[0], c = 0, h = 0, w = 0;
        bool spatial = x.dim() == 4;
        if (spatial)
        {
            (c, h, w) = (x.shape[1], x.shape[2], x.shape[3]);
            x = x.view(b, c, h * w).transpose(1, 2);                                      // [B, HW, C]
        }
        if (group_norm is not null) x = group_norm.call(x.transpose(1, 2)).transpose(1, 2);

        var context = encoderHiddenStates ?? x;
        var q = SplitHeads(to_q.call(x));                                                  // [B, heads, N, d]
        var k = SplitHeads(to_k.call(context));                                            // [B, heads, M, d]
        var v = SplitHeads(to_v.call(context));
        var dtype = q.dtype;
        if (upcast && dtype != ScalarType.Float32)
            (q, k, v) = (q.to(ScalarType.Float32), k.to(ScalarType.Float32), v.to(ScalarType.Float32));
        var attn = (SliceSize is int slice ? Sliced(q, k, v, slice, Kernel) : Attend(q, k, v, Kernel)).to(dtype);   // [B, heads, N, d]
        var output = attn.transpose(1, 2).reshape(b, -1, attn.shape[1] * attn.shape[3]);  // [B, N, heads·d]
        output = to_out[1].call(to_out[0].call(output));

        if (spatial) output = output.transpose(-1, -2).reshape(b, c, h, w);               // [B, C, H, W]
        if (residualConnection) output = Ops.Add(output, residual);
        if (rescaleOutputFactor != 1.0) output = Ops.Div(output, rescaleOutputFactor);
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// diffusers' sliced attention: (batch × heads) rows are attended <c>SliceSize</c> at a time, bounding the peak
    /// memory of the score matrices at some speed cost. null computes them all at once.
    /// </summary>
    public int? SliceSize { get; set; }

    /// <summary>heads × head dimension: the width of Q, K and V.</summary>
    public long InnerDim => innerDim;

    /// <summary>The attention kernel (default <see cref="AttentionKernel.Sdpa"/>).</summary>
    public AttentionKernel Kernel { get; set; }

    /// <summary>Sets <see cref="Kernel"/> on every Attention inside <paramref name="model"/>.</summary>
    public static void SetKernel(nn.Module model, AttentionKernel kernel)
    {
        foreach (var (_, module) in model.named_modules())
            if (module is Attention attention) attention.Kernel = kernel;
    }

    /// <summary>Sets <see cref="SliceSize"/> on every Attention inside <paramref name="model"/> (null turns slicing off).</summary>
    public static void SetSlicing(nn.Module model, int? sliceSize)
    {
        if (sliceSize is < 1) throw new DreamBoothException($"Attention slice size must be at least 1, not {sliceSize}.");
        foreach (var (_, module) in model.named_modules())
            if (module is Attention attention) attention.SliceSize = sliceSize;
    }

    private static Tensor Sliced(Tensor q, Tensor k, Tensor v, int slice, AttentionKernel kernel)
    {
        long b = q.shape[0], h = q.shape[1];
        var (q2, k2, v2) = (q.reshape(b * h, q.shape[2], q.shape[3]), k.reshape(b * h, k.shape[2], k.shape[3]), v.reshape(b * h, v.shape[2], v.shape[3]));
        var parts = new List<Tensor>();
        for (long start = 0; start < b * h; start += slice)
        {
            long n = Math.Min(slice, b * h - start);
            parts.Add(Attend(q2.narrow(0, start, n), k2.narrow(0, start, n), v2.narrow(0, start, n), kernel));
        }
        return cat(parts.ToArray()).reshape(b, h, q.shape[2], v.shape[3]);
    }

    // q [..., N, d], k and v [..., M, d] → [..., N, d].
    private static Tensor Attend(Tensor q, Tensor k, Tensor v, AttentionKernel kernel)
    {
        if (kernel == AttentionKernel.Sdpa) return functional.scaled_dot_product_attention(q, k, v, null, 0.0, false);
        var lead = q.shape[..^2];
        long n = q.shape[^2], m = k.shape[^2], d = q.shape[^1];
        var q3 = q.reshape(-1, n, d);                                                      // [B·heads, N, d]
        var k3 = k.reshape(-1, m, d);
        var v3 = v.reshape(-1, m, v.shape[^1]);
        // AttnProcessor.get_attention_scores: baddbmm(empty, q, kᵀ, beta=0, alpha=scale), softmax in the input dtype.
        using var empty = torch.empty([q3.shape[0], n, m], q3.dtype, q3.device);
        var probs = Ops.Baddbmm(empty, q3, k3.transpose(1, 2), 0, 1.0 / Math.Sqrt(d)).softmax(-1);   // [B·heads, N, M]
        return probs.bmm(v3).reshape([.. lead, n, v.shape[^1]]);
    }

    private Tensor SplitHeads(Tensor t) => t.view(t.shape[0], t.shape[1], heads, -1).transpose(1, 2);
}
