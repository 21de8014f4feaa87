// Mirrors diffusers src/diffusers/models/unets/unet_2d_blocks.py::DownBlock2D (resnet_time_scale_shift="default").
namespace DreamBooth.Models.Unets;

using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>Resnets, then an optional stride-2 conv. Returns the hidden state and every intermediate output as skips.</summary>
public sealed class DownBlock2D : Module<Tensor, Tensor, Tensor?, (Tensor Hidden, Tensor[] Skips)>, ICheckpointable
{
    private readonly Modules.ModuleList<ResnetBlock2D> resnets;
    private readonly Modules.ModuleList<Downsample2D>? downsamplers;

    public DownBlock2D(long inChannels, long outChannels, long tembChannels, int numLayers, int resnetGroups, double resnetEps,
                       bool addDownsample, long downsamplePadding = 1, double dropout = 0.0,
                       Device? device = null, ScalarType? dtype = null)
        : base(nameof(DownBlock2D))
    {
        resnets = new Modules.ModuleList<ResnetBlock2D>();
        for (int i = 0; i < numLayers; i++)
            resnets.Add(new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, tembChannels, resnetGroups, resnetEps,
                                          dropout, device: device, dtype: dtype));
        downsamplers = addDownsample
            ? new Modules.ModuleList<Downsample2D>(new Downsample2D(outChannels, outChannels, downsamplePadding, device, dtype))
            : null;
        RegisterComponents();
    }

    /// <summary>Recompute each resnet in backward instead of keeping its activations (set by
    /// <see cref="UNet2DConditionModel.GradientCheckpointing"/>; acts only in training mode with grad enabled).</summary>
    public bool GradientCheckpointing { get; set; }

    /// <param name="encoderHiddenStates">Ignored: the same call shape as <see cref="CrossAttnDownBlock2D"/>.</param>
    public override (Tensor Hidden, Tensor[] Skips) forward(Tensor hiddenStates, Tensor temb, Tensor? encoderHiddenStates)
    {
        using var scope = NewDisposeScope();
        var skips = new List<Tensor>();
        var h = hiddenStates;
        bool checkpoint = BlockCheckpointing.Active(this, GradientCheckpointing);
        foreach (var resnet in resnets)
        {
            h = BlockCheckpointing.Call(resnet, h, temb, checkpoint);
            skips.Add(h);
        }
        if (downsamplers is not null)
        {
            foreach (var down in downsamplers) h = down.call(h);
            skips.Add(h);
        }
        scope.MoveToOuter(skips.Append(h));
        return (h, skips.ToArray());
    }
}
