// Mirrors diffusers src/diffusers/models/unets/unet_2d_blocks.py::UNetMidBlock2DCrossAttn (num_layers=1, default attention).
namespace DreamBooth.Models.Unets;

using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>Resnet → (Transformer2D → Resnet) at the lowest resolution; channel count unchanged.</summary>
public sealed class UNetMidBlock2DCrossAttn : Module<Tensor, Tensor, Tensor?, Tensor>, ICheckpointable
{
    private readonly Modules.ModuleList<Transformer2DModel> attentions;
    private readonly Modules.ModuleList<ResnetBlock2D> resnets;

    public UNetMidBlock2DCrossAttn(long inChannels, long tembChannels, int transformerLayersPerBlock, int resnetGroups,
                                   double resnetEps, long numAttentionHeads, long crossAttentionDim, double outputScaleFactor = 1.0,
                                   bool useLinearProjection = false, bool upcastAttention = false, double dropout = 0.0,
                                   int numLayers = 1, Device? device = null, ScalarType? dtype = null)
        : base(nameof(UNetMidBlock2DCrossAttn))
    {
        attentions = new Modules.ModuleList<Transformer2DModel>();
        resnets = new Modules.ModuleList<ResnetBlock2D>(
            new ResnetBlock2D(inChannels, inChannels, tembChannels, resnetGroups, resnetEps, dropout, outputScaleFactor, device, dtype));
        for (int i = 0; i < numLayers; i++)
        {
            attentions.Add(new Transformer2DModel(numAttentionHeads, inChannels / numAttentionHeads, inChannels,
                                                  transformerLayersPerBlock, crossAttentionDim, resnetGroups, useLinearProjection,
                                                  upcastAttention, device: device, dtype: dtype));
            resnets.Add(new ResnetBlock2D(inChannels, inChannels, tembChannels, resnetGroups, resnetEps, dropout, outputScaleFactor,
                                          device, dtype));
        }
        RegisterComponents();
    }

    /// <summary>Recompute each resnet in backward instead of keeping its activations (set by
    /// <see cref="UNet2DConditionModel.GradientCheckpointing"/>; acts only in training mode with grad enabled).</summary>
    public bool GradientCheckpointing { get; set; }

    public override Tensor forward(Tensor hiddenStates, Tensor temb, Tensor? encoderHiddenStates)
    {
        using var scope = NewDisposeScope();
        // As diffusers: the first resnet always runs plainly, only the ones after an attention are checkpointed.
        var h = resnets[0].call(hiddenStates, temb);
        bool checkpoint = BlockCheckpointing.Active(this, GradientCheckpointing);
        for (int i = 0; i < attentions.Count; i++)
        {
            h = attentions[i].call(h, encoderHiddenStates);
            h = BlockCheckpointing.Call(resnets[i + 1], h, temb, checkpoint);
        }
        return h.MoveToOuterDisposeScope();
    }
}
