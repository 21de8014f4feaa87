// Mirrors diffusers src/diffusers/models/unets/unet_2d_blocks.py::UNetMidBlock2D as the VAE builds it:
// resnet, then (attention, resnet) × num_layers; no time embedding, one attention head spanning all channels.
namespace DreamBooth.Models.Autoencoders;

using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>The VAE's bottleneck: resnet, then (self-attention over the pixels, resnet) per layer.</summary>
public sealed class UNetMidBlock2D : Module<Tensor, Tensor>
{
    // Declared in diffusers' order so state_dict() lists attentions before resnets, as diffusers does.
    private readonly Modules.ModuleList<Attention> attentions;
    private readonly Modules.ModuleList<ResnetBlock2D> resnets;

    public UNetMidBlock2D(long channels, int groups, double eps, int numLayers = 1) : base(nameof(UNetMidBlock2D))
    {
        attentions = new Modules.ModuleList<Attention>();
        resnets = new Modules.ModuleList<ResnetBlock2D>(new ResnetBlock2D(channels, channels, tembChannels: null, groups, eps));
        for (int i = 0; i < numLayers; i++)
        {
            // The VAE passes attention_head_dim = channels: a single head; the block adds its input back.
            attentions.Add(new Attention(channels, heads: 1, dimHead: channels, bias: true, normNumGroups: groups, eps: eps,
                                         residualConnection: true, rescaleOutputFactor: 1.0));
            resnets.Add(new ResnetBlock2D(channels, channels, tembChannels: null, groups, eps));
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        var h = resnets[0].call(hiddenStates, null);
        for (int i = 0; i < attentions.Count; i++)
            h = resnets[i + 1].call(attentions[i].call(h, null), null);
        return h.MoveToOuterDisposeScope();
    }
}
