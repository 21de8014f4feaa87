// Mirrors diffusers src/diffusers/models/upsampling.py::Upsample2D (use_conv=True, nearest ×2).
namespace DreamBooth.Models;

using static TorchSharp.torch;
using Modules = TorchSharp.Modules;
using static TorchSharp.torch.nn;

/// <summary>Doubles height and width (or reaches a given size) by nearest-neighbour interpolation, then a 3×3 convolution.</summary>
public sealed class Upsample2D : Module<Tensor, long[]?, Tensor>
{
    private readonly Module<Tensor, Tensor> conv;   // Conv2d (or a LoRA wrapper around it)

    public Upsample2D(long channels, long outChannels, Device? device = null, ScalarType? dtype = null)
        : base(nameof(Upsample2D))
    {
        conv = Conv2d(channels, outChannels, kernel_size: 3, padding: 1, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <param name="outputSize">The skip tensor's [H, W] when the latent size is not a multiple of the UNet's
    /// total downsampling; diffusers then interpolates to that exact size instead of doubling.</param>
    public override Tensor forward(Tensor x, long[]? outputSize)
    {
        using var scope = NewDisposeScope();
        // Nearest upsampling is not implemented for bf16 on every backend: go through fp32 as diffusers does.
        var input = x.dtype == ScalarType.BFloat16 ? x.to(ScalarType.Float32) : x;
        if (input.shape[0] >= 64) input = input.contiguous();
        var up = outputSize is null
            ? functional.interpolate(input, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest)
            : functional.interpolate(input, size: outputSize, mode: InterpolationMode.Nearest);
        if (up.dtype != x.dtype) up = up.to(x.dtype);
        return conv.call(up).MoveToOuterDisposeScope();
    }
}
