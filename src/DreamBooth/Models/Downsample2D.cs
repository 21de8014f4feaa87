// Mirrors diffusers src/diffusers/models/downsampling.py::Downsample2D (use_conv=True).
namespace DreamBooth.Models;

using static TorchSharp.torch;
using Modules = TorchSharp.Modules;
using static TorchSharp.torch.nn;

/// <summary>Halves height and width with a stride-2 3×3 convolution.</summary>
public sealed class Downsample2D : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> conv;   // Conv2d (or a LoRA wrapper around it)
    private readonly long padding;

    /// <param name="padding">1 in the UNet; 0 in the VAE encoder, which pads (0,1,0,1) asymmetrically instead.</param>
    public Downsample2D(long channels, long outChannels, long padding = 1, Device? device = null, ScalarType? dtype = null)
        : base(nameof(Downsample2D))
    {
        conv = Conv2d(channels, outChannels, kernel_size: 3, stride: 2, padding: padding, device: device, dtype: dtype);
        this.padding = padding;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        if (padding != 0) return conv.call(x);
        using var scope = NewDisposeScope();
        var padded = functional.pad(x, [0, 1, 0, 1]);                                  // right and bottom only
        return conv.call(padded).MoveToOuterDisposeScope();
    }
}
