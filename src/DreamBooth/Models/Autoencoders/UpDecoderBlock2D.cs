// Mirrors diffusers src/diffusers/models/unets/unet_2d_blocks.py::UpDecoderBlock2D (no time embedding).
namespace DreamBooth.Models.Autoencoders;

using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>One level of the VAE decoder: resnets at one width, then an optional ×2 upsampler.</summary>
public sealed class UpDecoderBlock2D : Module<Tensor, Tensor>
{
    private readonly Modules.ModuleList<ResnetBlock2D> resnets;
    private readonly Modules.ModuleList<Upsample2D>? upsamplers;       // absent in the last block

    public UpDecoderBlock2D(long inChannels, long outChannels, int numLayers, int groups, double eps, bool addUpsample)
        : base(nameof(UpDecoderBlock2D))
    {
        resnets = new Modules.ModuleList<ResnetBlock2D>();
        for (int i = 0; i < numLayers; i++)
            resnets.Add(new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, tembChannels: null, groups, eps));
        if (addUpsample)
            upsamplers = new Modules.ModuleList<Upsample2D>(new Upsample2D(outChannels, outChannels));
        RegisterComponents();
    }

    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        var h = hiddenStates;
        foreach (var resnet in resnets) h = resnet.call(h, null);
        if (upsamplers is not null)
            foreach (var up in upsamplers) h = up.call(h, null);                    // [B, C, 2H, 2W]
        return h.MoveToOuterDisposeScope();
    }
}
