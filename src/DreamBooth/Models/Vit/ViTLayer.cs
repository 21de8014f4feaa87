// Mirrors transformers src/transformers/models/vit/modeling_vit.py::ViTLayer
namespace DreamBooth.Models.Vit;

using DreamBooth.Models.Clip;
using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>Pre-norm block: x + attention(layernorm_before(x)), then + MLP(layernorm_after(·)).</summary>
public sealed class ViTLayer : Module<Tensor, Tensor>
{
    // Field order = transformers' state_dict order.
    private readonly ViTAttention attention;
    private readonly ViTIntermediate intermediate;
    private readonly ViTOutput output;
    private readonly Modules.LayerNorm layernorm_before;
    private readonly Modules.LayerNorm layernorm_after;

    public ViTLayer(ViTConfig config, Device device, ScalarType dtype) : base(nameof(ViTLayer))
    {
        attention = new ViTAttention(config, device, dtype);
        intermediate = new ViTIntermediate(config, device, dtype);
        output = new ViTOutput(config, device, dtype);
        layernorm_before = UninitializedLayers.LayerNorm(config.HiddenSize, config.LayerNormEps, device, dtype);
        layernorm_after = UninitializedLayers.LayerNorm(config.HiddenSize, config.LayerNormEps, device, dtype);
        RegisterComponents();
    }

    /// <param name="hiddenStates">[B, T, C]</param>
    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        var h = Ops.Add(attention.call(layernorm_before.call(hiddenStates)), hiddenStates);
        return output.call(intermediate.call(layernorm_after.call(h)), h).MoveToOuterDisposeScope();
    }
}
