// Mirrors transformers src/transformers/models/vit/modeling_vit.py::ViTEncoder
namespace DreamBooth.Models.Vit;

using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>The stack of <see cref="ViTLayer"/>s (keys <c>layer.0.*</c>, <c>layer.1.*</c>, …).</summary>
public sealed class ViTEncoder : Module<Tensor, Tensor>
{
    private readonly Modules.ModuleList<ViTLayer> layer;

    public ViTEncoder(ViTConfig config, Device device, ScalarType dtype) : base(nameof(ViTEncoder))
    {
        layer = new Modules.ModuleList<ViTLayer>(
            Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new ViTLayer(config, device, dtype)).ToArray());
        RegisterComponents();
    }

    /// <param name="hiddenStates">[B, T, C]</param>
    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        var h = hiddenStates;
        foreach (var block in layer) h = block.call(h);
        return h.MoveToOuterDisposeScope();
    }
}
