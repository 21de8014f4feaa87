// Mirrors diffusers src/diffusers/models/activations.py::GEGLU.
namespace DreamBooth.Models;

using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>Gated GELU: one projection to twice the width, split into value and gate, value · gelu(gate) (exact erf GELU).</summary>
public sealed class GEGLU : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> proj;   // Linear (or a LoRA wrapper around it)

    public GEGLU(long dimIn, long dimOut, Device? device = null, ScalarType? dtype = null) : base(nameof(GEGLU))
    {
        proj = Linear(dimIn, dimOut * 2, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var parts = proj.call(x).chunk(2, -1);                                              // 2 × [..., dimOut]
        return (parts[0] * functional.gelu(parts[1])).MoveToOuterDisposeScope();
    }
}
