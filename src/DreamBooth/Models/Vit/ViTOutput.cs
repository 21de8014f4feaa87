// Mirrors transformers src/transformers/models/vit/modeling_vit.py::ViTOutput
namespace DreamBooth.Models.Vit;

using DreamBooth.Models.Clip;
using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>The MLP's contraction plus the residual from before the MLP.</summary>
public sealed class ViTOutput : Module<Tensor, Tensor, Tensor>
{
    private readonly Modules.Linear dense;   // [hidden, intermediate]

    public ViTOutput(ViTConfig config, Device device, ScalarType dtype) : base(nameof(ViTOutput))
    {
        dense = UninitializedLayers.Linear(config.IntermediateSize, config.HiddenSize, bias: true, device, dtype);
        RegisterComponents();
    }

    /// <param name="hiddenStates">[B, T, intermediate]</param>
    /// <param name="inputTensor">[B, T, hidden]: the residual.</param>
    public override Tensor forward(Tensor hiddenStates, Tensor inputTensor)
    {
        using var scope = NewDisposeScope();
        return Ops.Add(dense.call(hiddenStates), inputTensor).MoveToOuterDisposeScope();
    }
}
