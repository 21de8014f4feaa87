// Mirrors diffusers src/diffusers/models/autoencoders/vae.py::Decoder (norm_type="group").
namespace DreamBooth.Models.Autoencoders;

using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>Latents [B, latent, h, w] → image [B, out, h·f, w·f].</summary>
public sealed class Decoder : Module<Tensor, Tensor>
{
    // Declared in diffusers' registration order (up_blocks is created before mid_block there).
    private readonly Modules.Conv2d conv_in;
    private readonly Modules.ModuleList<UpDecoderBlock2D> up_blocks;
    private readonly UNetMidBlock2D mid_block;
    private readonly Modules.GroupNorm conv_norm_out;
    private readonly Modules.Conv2d conv_out;

    public Decoder(AutoencoderKLConfig config) : base(nameof(Decoder))
    {
        var reversed = config.BlockOutChannels.Reverse().ToArray();
        int groups = config.NormNumGroups;
        conv_in = Conv2d(config.LatentChannels, reversed[0], kernel_size: 3, padding: 1);
        mid_block = new UNetMidBlock2D(reversed[0], groups, Encoder.Eps);
        up_blocks = new Modules.ModuleList<UpDecoderBlock2D>();
        long output = reversed[0];
        for (int i = 0; i < reversed.Length; i++)
        {
            long input = output;
            output = reversed[i];
            // One resnet more per level than the encoder, as in the original LDM decoder.
            up_blocks.Add(new UpDecoderBlock2D(input, output, config.LayersPerBlock + 1, groups, Encoder.Eps,
                                               addUpsample: i < reversed.Length - 1));
        }
        conv_norm_out = Layers.GroupNorm(groups, reversed[^1], Encoder.Eps);
        conv_out = Conv2d(reversed[^1], config.OutChannels, kernel_size: 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor sample)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.call(sample);                                                   // [B, C_last, h, w]
        h = mid_block.call(h);
        // diffusers' SDXL upcast_vae() keeps conv_in and mid_block in fp16 but the up blocks in fp32.
        var upDtype = up_blocks.parameters().First().dtype;
        if (h.dtype != upDtype) h = h.to(upDtype);
        foreach (var block in up_blocks) h = block.call(h);                              // [B, C0, h·f, w·f]
        h = conv_out.call(functional.silu(conv_norm_out.call(h)));                       // [B, out, h·f, w·f]
        return h.MoveToOuterDisposeScope();
    }
}
