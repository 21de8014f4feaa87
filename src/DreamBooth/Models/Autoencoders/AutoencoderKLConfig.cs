// Mirrors diffusers src/diffusers/models/autoencoders/autoencoder_kl.py::AutoencoderKL.__init__ (its config.json).
namespace DreamBooth.Models.Autoencoders;

using System.Text.Json.Nodes;
using DreamBooth.Loading;

/// <summary>
/// A VAE's <c>config.json</c>. Defaults equal diffusers 0.27.2's constructor defaults; <see cref="ShiftFactor"/>,
/// <see cref="UseQuantConv"/> and <see cref="UsePostQuantConv"/> come from later diffusers versions (SD3/Flux VAEs)
/// and default to the 0.27.2 behaviour.
/// </summary>
public sealed record AutoencoderKLConfig
{
    public int InChannels { get; init; } = 3;
    public int OutChannels { get; init; } = 3;
    public IReadOnlyList<string> DownBlockTypes { get; init; } = ["DownEncoderBlock2D"];
    public IReadOnlyList<string> UpBlockTypes { get; init; } = ["UpDecoderBlock2D"];
    public IReadOnlyList<int> BlockOutChannels { get; init; } = [64];
    public int LayersPerBlock { get; init; } = 1;
    public string ActFn { get; init; } = "silu";
    public int LatentChannels { get; init; } = 4;
    public int NormNumGroups { get; init; } = 32;

    /// <summary>Image size the VAE was trained on; also the tile size of tiled encoding/decoding.</summary>
    public int SampleSize { get; init; } = 32;
    public double ScalingFactor { get; init; } = 0.18215;
    public double? ShiftFactor { get; init; }
    public IReadOnlyList<double>? LatentsMean { get; init; }
    public IReadOnlyList<double>? LatentsStd { get; init; }
    public bool ForceUpcast { get; init; } = true;
    public bool UseQuantConv { get; init; } = true;
    public bool UsePostQuantConv { get; init; } = true;

    /// <summary>Spatial factor between image and latents: 2^(levels - 1).</summary>
    public int DownsampleFactor => 1 << (BlockOutChannels.Count - 1);

    public static AutoencoderKLConfig Load(string path) => From(ConfigFile.Load(path));

    public static AutoencoderKLConfig From(ConfigFile file)
    {
        var d = new AutoencoderKLConfig();
        var config = new AutoencoderKLConfig
        {
            InChannels = file.Optional("in_channels", d.InChannels),
            OutChannels = file.Optional("out_channels", d.OutChannels),
            DownBlockTypes = file.Optional("down_block_types", d.DownBlockTypes.ToArray()),
            UpBlockTypes = file.Optional("up_block_types", d.UpBlockTypes.ToArray()),
            BlockOutChannels = file.Optional("block_out_channels", d.BlockOutChannels.ToArray()),
            LayersPerBlock = file.Optional("layers_per_block", d.LayersPerBlock),
            ActFn = file.Optional("act_fn", d.ActFn),
            LatentChannels = file.Optional("latent_channels", d.LatentChannels),
            NormNumGroups = file.Optional("norm_num_groups", d.NormNumGroups),
            // diffusers accepts a list here and tiles with its first entry.
            SampleSize = file.Json["sample_size"] is JsonArray ? file.Optional("sample_size", new[] { d.SampleSize })[0]
                                                               : file.Optional("sample_size", d.SampleSize),
            ScalingFactor = file.Optional("scaling_factor", d.ScalingFactor),
            ShiftFactor = file.Optional<double?>("shift_factor", null),
            LatentsMean = file.Optional<double[]?>("latents_mean", null),
            LatentsStd = file.Optional<double[]?>("latents_std", null),
            ForceUpcast = file.Optional("force_upcast", d.ForceUpcast),
            UseQuantConv = file.Optional("use_quant_conv", d.UseQuantConv),
            UsePostQuantConv = file.Optional("use_post_quant_conv", d.UsePostQuantConv),
        };
        config.Validate(file.Path);
        return config;
    }

    /// <summary>Rejects what this implementation does not build, naming <paramref name="source"/>.</summary>
    public void Validate(string source = "AutoencoderKL config")
    {
        void Fail(string message) => throw new DreamBoothException($"{source}: {message}");
        int levels = BlockOutChannels.Count;
        if (levels == 0) Fail("'block_out_channels' is empty.");
        if (DownBlockTypes.Count != levels || UpBlockTypes.Count != levels)
            Fail($"'down_block_types' ({DownBlockTypes.Count}), 'up_block_types' ({UpBlockTypes.Count}) and 'block_out_channels' ({levels}) must have the same length.");
        if (DownBlockTypes.FirstOrDefault(t => t != "DownEncoderBlock2D") is { } down)
            Fail($"down block type '{down}' is not supported (only DownEncoderBlock2D).");
        if (UpBlockTypes.FirstOrDefault(t => t != "UpDecoderBlock2D") is { } up)
            Fail($"up block type '{up}' is not supported (only UpDecoderBlock2D).");
        if (ActFn is not ("silu" or "swish")) Fail($"act_fn '{ActFn}' is not supported (only silu).");
        if (LayersPerBlock < 1) Fail("'layers_per_block' must be at least 1.");
        if (NormNumGroups < 1 || BlockOutChannels.Any(c => c <= 0 || c % NormNumGroups != 0))
            Fail($"every entry of 'block_out_channels' must be a positive multiple of 'norm_num_groups' ({NormNumGroups}).");
        if (InChannels < 1 || OutChannels < 1 || LatentChannels < 1 || SampleSize < 1)
            Fail("channel counts and 'sample_size' must be positive.");
        if (BlockOutChannels.Append(LatentChannels).Max() > Unets.UNet2DConditionConfig.MaxChannels)
            Fail($"channel counts above {Unets.UNet2DConditionConfig.MaxChannels:N0} are not credible (the weights alone would not fit in memory).");
    }
}
