// Mirrors diffusers src/diffusers/models/autoencoders/vae.py::Encoder (double_z=True, group norm).
namespace DreamBooth.Models.Autoencoders;

using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>Image [B, in, H, W] → posterior moments [B, 2·latent, H/f, W/f] (mean and log-variance stacked).</summary>
public sealed class Encoder : Module<Tensor, Tensor>
{
    internal const double Eps = 1e-6;   // every VAE norm uses 1e-6, unlike the UNet's resnets

    private readonly Modules.Conv2d conv_in;
    private readonly Modules.ModuleList<DownEncoderBlock2D> down_blocks;
    private readonly UNetMidBlock2D mid_block;
    private readonly Modules.GroupNorm conv_norm_out;
    private readonly Modules.Conv2d conv_out;

    public Encoder(AutoencoderKLConfig config) : base(nameof(Encoder))
    {
        var channels = config.BlockOutChannels;
        int groups = config.NormNumGroups;
        conv_in = Conv2d(config.InChannels, channels[0], kernel_size: 3, padding: 1);
        down_blocks = new Modules.ModuleList<DownEncoderBlock2D>();
        long output = channels[0];
        for (int i = 0; i < channels.Count; i++)
        {
            long input = output;
            output = channels[i];
            // padding 0: Downsample2D pads (0,1,0,1) itself, as the original LDM encoder did.
            down_blocks.Add(new DownEncoderBlock2D(input, output, config.LayersPerBlock, groups, Eps,
                                                   addDownsample: i < channels.Count - 1, downsamplePadding: 0));
        }
        mid_block = new UNetMidBlock2D(channels[^1], groups, Eps);
        conv_norm_out = Layers.GroupNorm(groups, channels[^1], Eps);
        conv_out = Conv2d(channels[^1], 2 * config.LatentChannels, kernel_size: 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor sample)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.call(sample);                                                   // [B, C0, H, W]
        foreach (var block in down_blocks) h = block.call(h);                            // [B, C_last, H/f, W/f]
        h = mid_block.call(h);
        h = conv_out.call(functional.silu(conv_norm_out.call(h)));                       // [B, 2·latent, H/f, W/f]
        return h.MoveToOuterDisposeScope();
    }
}
