// Mirrors diffusers src/diffusers/models/attention.py::FeedForward (activation_fn="geglu", mult=4, no final dropout).
namespace DreamBooth.Models;

using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>The transformer block's MLP: GEGLU up-projection to mult·dim, dropout, linear back to dim.</summary>
public sealed class FeedForward : Module<Tensor, Tensor>
{
    private readonly Modules.ModuleList<Module<Tensor, Tensor>> net;   // [GEGLU, Dropout, Linear]: keys net.0.proj.*, net.2.*

    public FeedForward(long dim, double dropout = 0.0, long mult = 4, Device? device = null, ScalarType? dtype = null)
        : base(nameof(FeedForward))
    {
        long inner = dim * mult;
        net = new Modules.ModuleList<Module<Tensor, Tensor>>(
            new GEGLU(dim, inner, device, dtype), Dropout(dropout), Linear(inner, dim, device: device, dtype: dtype));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = x;
        foreach (var layer in net) h = layer.call(h);
        return h.MoveToOuterDisposeScope();
    }
}
