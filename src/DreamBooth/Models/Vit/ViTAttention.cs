// Mirrors transformers src/transformers/models/vit/modeling_vit.py::ViTAttention
namespace DreamBooth.Models.Vit;

using static TorchSharp.torch;
using static TorchSharp.torch.nn;

/// <summary>Self-attention followed by its output projection (keys <c>attention.*</c>, <c>output.dense.*</c>).</summary>
public sealed class ViTAttention : Module<Tensor, Tensor>
{
    private readonly ViTSelfAttention attention;
    private readonly ViTSelfOutput output;

    public ViTAttention(ViTConfig config, Device device, ScalarType dtype) : base(nameof(ViTAttention))
    {
        attention = new ViTSelfAttention(config, device, dtype);
        output = new ViTSelfOutput(config, device, dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        return output.call(attention.call(hiddenStates)).MoveToOuterDisposeScope();
    }
}
