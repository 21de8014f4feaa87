// Mirrors diffusers src/diffusers/models/unets/unet_2d_blocks.py::DownEncoderBlock2D (no time embedding).
namespace DreamBooth.Models.Autoencoders;

using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>One level of the VAE encoder: resnets at one width, then an optional stride-2 downsampler.</summary>
public sealed class DownEncoderBlock2D : Module<Tensor, Tensor>
{
    private readonly Modules.ModuleList<ResnetBlock2D> resnets;
    private readonly Modules.ModuleList<Downsample2D>? downsamplers;   // absent in the last block

    public DownEncoderBlock2D(long inChannels, long outChannels, int numLayers, int groups, double eps,
                              bool addDownsample, long downsamplePadding)
        : base(nameof(DownEncoderBlock2D))
    {
        resnets = new Modules.ModuleList<ResnetBlock2D>();
        for (int i = 0; i < numLayers; i++)
            resnets.Add(new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, tembChannels: null, groups, eps));
        if (addDownsample)
            downsamplers = new Modules.ModuleList<Downsample2D>(new Downsample2D(outChannels, outChannels, downsamplePadding));
        RegisterComponents();
    }

    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        var h = hiddenStates;
        foreach (var resnet in resnets) h = resnet.call(h, null);
        if (downsamplers is not null)
            foreach (var down in downsamplers) h = down.call(h);                    // [B, C, H/2, W/2]
        return h.MoveToOuterDisposeScope();
    }
}
