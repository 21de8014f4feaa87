// Mirrors transformers src/transformers/models/clip/modeling_clip.py::CLIPEncoderLayer
namespace DreamBooth.Models.Clip;

using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>Pre-norm transformer block: x + attn(ln1(x)), then x + mlp(ln2(x)).</summary>
public sealed class CLIPEncoderLayer : Module<Tensor, Tensor, Tensor>
{
    private readonly CLIPAttention self_attn;
    private readonly Modules.LayerNorm layer_norm1;
    private readonly CLIPMLP mlp;
    private readonly Modules.LayerNorm layer_norm2;

    public CLIPEncoderLayer(CLIPTextConfig config, Device device, ScalarType dtype) : base(nameof(CLIPEncoderLayer))
    {
        self_attn = new CLIPAttention(config, device, dtype);
        layer_norm1 = UninitializedLayers.LayerNorm(config.HiddenSize, config.LayerNormEps, device, dtype);
        mlp = new CLIPMLP(config, device, dtype);
        layer_norm2 = UninitializedLayers.LayerNorm(config.HiddenSize, config.LayerNormEps, device, dtype);
        RegisterComponents();
    }

    /// <param name="hiddenStates">[B, T, C]</param>
    /// <param name="attentionMask">Additive mask for <see cref="CLIPAttention"/>.</param>
    public override Tensor forward(Tensor hiddenStates, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        var h = Ops.Add(hiddenStates, self_attn.call(layer_norm1.call(hiddenStates), attentionMask));
        h = Ops.Add(h, mlp.call(layer_norm2.call(h)));
        return h.MoveToOuterDisposeScope();                                  // [B, T, C]
    }
}
