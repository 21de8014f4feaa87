// Mirrors diffusers src/diffusers/models/autoencoders/autoencoder_kl.py::AutoencoderKL (0.27.2), including
// enable_slicing / enable_tiling.
namespace DreamBooth.Models.Autoencoders;

using DreamBooth.Loading;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>
/// The KL-regularised VAE of Stable Diffusion: <see cref="Encode"/> images in [-1, 1] to a latent posterior,
/// <see cref="Decode"/> latents back to images. Neither applies <see cref="ScalingFactor"/>/<see cref="ShiftFactor"/>:
/// pipelines use <c>(z - shift) · scale</c> after encoding and <c>z / scale + shift</c> before decoding.
/// </summary>
public sealed class AutoencoderKL : Module<Tensor, Tensor>
{
    private readonly Encoder encoder;
    private readonly Decoder decoder;
    private readonly Modules.Conv2d? quant_conv;        // 1×1 on the moments; absent when use_quant_conv is false
    private readonly Modules.Conv2d? post_quant_conv;   // 1×1 on the latents

    public AutoencoderKLConfig Config { get; }

    public double ScalingFactor => Config.ScalingFactor;

    public double? ShiftFactor => Config.ShiftFactor;

    /// <summary>Decode (and encode) one sample of a batch at a time: less memory for large batches.</summary>
    public bool UseSlicing { get; set; }

    /// <summary>Encode/decode images larger than <see cref="TileSampleMinSize"/> in overlapping, blended tiles.</summary>
    public bool UseTiling { get; set; }

    /// <summary>Tile edge in pixels (config sample_size).</summary>
    public int TileSampleMinSize { get; set; }

    /// <summary>Tile edge in latents: sample_size / 2^(levels-1).</summary>
    public int TileLatentMinSize { get; set; }

    /// <summary>Fraction of a tile shared with its neighbour and cross-faded.</summary>
    public double TileOverlapFactor { get; set; } = 0.25;

    /// <param name="device">Where to move the parameters once built (the VAE is built in float32 on the CPU).</param>
    /// <param name="dtype">Parameter dtype to convert to once built.</param>
    public AutoencoderKL(AutoencoderKLConfig config, Device? device = null, ScalarType? dtype = null) : base(nameof(AutoencoderKL))
    {
        config.Validate();
        Config = config;
        encoder = new Encoder(config);
        decoder = new Decoder(config);
        if (config.UseQuantConv) quant_conv = Conv2d(2 * config.LatentChannels, 2 * config.LatentChannels, kernel_size: 1);
        if (config.UsePostQuantConv) post_quant_conv = Conv2d(config.LatentChannels, config.LatentChannels, kernel_size: 1);
        TileSampleMinSize = config.SampleSize;
        TileLatentMinSize = (int)(config.SampleSize / (double)config.DownsampleFactor);
        RegisterComponents();
        if (dtype is ScalarType t) this.to(t);
        if (device is not null) this.to(device);
    }

    /// <summary>
    /// Loads a diffusers <c>vae/</c> folder (config.json + diffusion_pytorch_model[.variant].safetensors), strictly.
    /// Checkpoints from diffusers &lt; 0.14 (mid-block attention named query/key/value/proj_attn) are accepted.
    /// </summary>
    public static AutoencoderKL FromPretrained(string componentDir, Device? device = null, ScalarType dtype = ScalarType.Float32,
                                               string? variant = null)
    {
        var config = AutoencoderKLConfig.Load(Path.Combine(componentDir, "config.json"));
        return StateDictLoader.LoadNew(() => new AutoencoderKL(config, device, dtype),
            WeightFiles.Find(componentDir, "diffusion_pytorch_model", variant), componentDir, LegacyKeys.RenameDeprecatedAttention);
    }

    /// <summary>Images [B, in, H, W] in [-1, 1] → posterior over latents [B, latent, H/f, W/f].</summary>
    public DiagonalGaussianDistribution Encode(Tensor x)
    {
        Tensor moments;
        using (var scope = NewDisposeScope())
        {
            if (UseTiling && (x.shape[^1] > TileSampleMinSize || x.shape[^2] > TileSampleMinSize))
                moments = TiledMoments(x);
            else
            {
                var h = UseSlicing && x.shape[0] > 1 ? cat(x.split(1).Select(s => encoder.call(s)).ToList(), 0) : encoder.call(x);
                moments = quant_conv is null ? h : quant_conv.call(h);                  // [B, 2·latent, h, w]
            }
            moments.MoveToOuterDisposeScope();
        }
        return new DiagonalGaussianDistribution(moments);
    }

    /// <summary>Latents [B, latent, h, w] (already divided by the scaling factor) → images [B, out, h·f, w·f], unclamped.</summary>
    public Tensor Decode(Tensor z)
    {
        using var scope = NewDisposeScope();
        var images = UseSlicing && z.shape[0] > 1 ? cat(z.split(1).Select(DecodeOne).ToList(), 0) : DecodeOne(z);
        return images.MoveToOuterDisposeScope();
    }

    /// <summary>diffusers' forward(sample_posterior=False): encode, take the mode, decode.</summary>
    public override Tensor forward(Tensor sample)
    {
        using var scope = NewDisposeScope();
        using var posterior = Encode(sample);
        return Decode(posterior.Mean).MoveToOuterDisposeScope();
    }

    private Tensor DecodeOne(Tensor z)
    {
        if (UseTiling && (z.shape[^1] > TileLatentMinSize || z.shape[^2] > TileLatentMinSize))
            return TiledDecode(z);
        using var scope = NewDisposeScope();
        return decoder.call(PostQuant(z)).MoveToOuterDisposeScope();
    }

    private Tensor PostQuant(Tensor z) => post_quant_conv is null ? z.alias() : post_quant_conv.call(z);

    /// <summary>Encoder + quant_conv over sample tiles with a 25 % overlap, blended in latent space.</summary>
    private Tensor TiledMoments(Tensor x)
    {
        int overlap = (int)(TileSampleMinSize * (1 - TileOverlapFactor));
        int blend = (int)(TileLatentMinSize * TileOverlapFactor);
        return Tiling.Run(x, TileSampleMinSize, overlap, blend, TileLatentMinSize - blend, tile =>
        {
            var h = encoder.call(tile);
            return quant_conv is null ? h : quant_conv.call(h);
        });
    }

    /// <summary>post_quant_conv + decoder over latent tiles with a 25 % overlap, blended in pixel space.</summary>
    private Tensor TiledDecode(Tensor z)
    {
        int overlap = (int)(TileLatentMinSize * (1 - TileOverlapFactor));
        int blend = (int)(TileSampleMinSize * TileOverlapFactor);
        return Tiling.Run(z, TileLatentMinSize, overlap, blend, TileSampleMinSize - blend, tile => decoder.call(PostQuant(tile)));
    }
}
