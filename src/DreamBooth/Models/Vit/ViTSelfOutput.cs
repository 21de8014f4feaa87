// Mirrors transformers src/transformers/models/vit/modeling_vit.py::ViTSelfOutput
namespace DreamBooth.Models.Vit;

using DreamBooth.Models.Clip;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>The attention's output projection; the residual is added by <see cref="ViTLayer"/> (unlike BERT).</summary>
public sealed class ViTSelfOutput : Module<Tensor, Tensor>
{
    private readonly Modules.Linear dense;

    public ViTSelfOutput(ViTConfig config, Device device, ScalarType dtype) : base(nameof(ViTSelfOutput))
    {
        dense = UninitializedLayers.Linear(config.HiddenSize, config.HiddenSize, bias: true, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hiddenStates) => dense.call(hiddenStates);
}
