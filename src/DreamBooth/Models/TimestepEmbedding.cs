// Mirrors diffusers src/diffusers/models/embeddings.py::TimestepEmbedding (act_fn="silu", no cond_proj, no post_act).
namespace DreamBooth.Models;

using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>linear_1 → SiLU → linear_2. The UNet uses it for the timestep and (SDXL) for the added text/time conditioning.</summary>
public sealed class TimestepEmbedding : Module<Tensor, Tensor>
{
    // Linear layers, typed as modules so a LoRA wrapper can take their place.
    private readonly Module<Tensor, Tensor> linear_1;
    private readonly Module<Tensor, Tensor> linear_2;

    public TimestepEmbedding(long inChannels, long timeEmbedDim, Device? device = null, ScalarType? dtype = null)
        : base(nameof(TimestepEmbedding))
    {
        linear_1 = Linear(inChannels, timeEmbedDim, device: device, dtype: dtype);
        linear_2 = Linear(timeEmbedDim, timeEmbedDim, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor sample)
    {
        using var scope = NewDisposeScope();
        return linear_2.call(functional.silu(linear_1.call(sample))).MoveToOuterDisposeScope();
    }
}
