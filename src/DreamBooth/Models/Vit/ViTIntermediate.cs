// Mirrors transformers src/transformers/models/vit/modeling_vit.py::ViTIntermediate
namespace DreamBooth.Models.Vit;

using DreamBooth.Models.Clip;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>The MLP's expansion: dense → activation (exact GELU for DINO).</summary>
public sealed class ViTIntermediate : Module<Tensor, Tensor>
{
    private readonly Modules.Linear dense;   // [intermediate, hidden]
    private readonly bool quickGelu;

    public ViTIntermediate(ViTConfig config, Device device, ScalarType dtype) : base(nameof(ViTIntermediate))
    {
        dense = UninitializedLayers.Linear(config.HiddenSize, config.IntermediateSize, bias: true, device, dtype);
        quickGelu = config.HiddenAct == "quick_gelu";   // ViTConfig.Validate admits only gelu and quick_gelu
        RegisterComponents();
    }

    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        var h = dense.call(hiddenStates);
        return (quickGelu ? h * functional.sigmoid(h * 1.702) : functional.gelu(h)).MoveToOuterDisposeScope();
    }
}
