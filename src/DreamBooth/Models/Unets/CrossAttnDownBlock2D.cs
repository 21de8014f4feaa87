// Mirrors diffusers src/diffusers/models/unets/unet_2d_blocks.py::CrossAttnDownBlock2D
// (dual_cross_attention=False, only_cross_attention=False, attention_type="default").
namespace DreamBooth.Models.Unets;

using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>(Resnet → Transformer2D) × numLayers, then an optional stride-2 conv; every output is kept as a skip.</summary>
public sealed class CrossAttnDownBlock2D : Module<Tensor, Tensor, Tensor?, (Tensor Hidden, Tensor[] Skips)>, ICheckpointable
{
    // Declared before resnets because diffusers registers them first: parameter order equals named_parameters().
    private readonly Modules.ModuleList<Transformer2DModel> attentions;
    private readonly Modules.ModuleList<ResnetBlock2D> resnets;
    private readonly Modules.ModuleList<Downsample2D>? downsamplers;

    /// <param name="transformerLayersPerBlock">Depth of each Transformer2DModel (SDXL: up to 10).</param>
    public CrossAttnDownBlock2D(long inChannels, long outChannels, long tembChannels, int numLayers, int transformerLayersPerBlock,
                                int resnetGroups, double resnetEps, long numAttentionHeads, long crossAttentionDim,
                                bool addDownsample, long downsamplePadding = 1, bool useLinearProjection = false,
                                bool upcastAttention = false, double dropout = 0.0, Device? device = null, ScalarType? dtype = null)
        : base(nameof(CrossAttnDownBlock2D))
    {
        attentions = new Modules.ModuleList<Transformer2DModel>();
        resnets = new Modules.ModuleList<ResnetBlock2D>();
        for (int i = 0; i < numLayers; i++)
        {
            resnets.Add(new ResnetBlock2D(i == 0 ? inChannels : outChannels, outChannels, tembChannels, resnetGroups, resnetEps,
                                          dropout, device: device, dtype: dtype));
            attentions.Add(new Transformer2DModel(numAttentionHeads, outChannels / numAttentionHeads, outChannels,
                                                  transformerLayersPerBlock, crossAttentionDim, resnetGroups, useLinearProjection,
                                                  upcastAttention, device: device, dtype: dtype));
        }
        downsamplers = addDownsample
            ? new Modules.ModuleList<Downsample2D>(new Downsample2D(outChannels, outChannels, downsamplePadding, device, dtype))
            : null;
        RegisterComponents();
    }

    /// <summary>Recompute each resnet in backward instead of keeping its activations (set by
    /// <see cref="UNet2DConditionModel.GradientCheckpointing"/>; acts only in training mode with grad enabled).</summary>
    public bool GradientCheckpointing { get; set; }

    public override (Tensor Hidden, Tensor[] Skips) forward(Tensor hiddenStates, Tensor temb, Tensor? encoderHiddenStates)
    {
        using var scope = NewDisposeScope();
        var skips = new List<Tensor>();
        var h = hiddenStates;
        bool checkpoint = BlockCheckpointing.Active(this, GradientCheckpointing);
        for (int i = 0; i < resnets.Count; i++)
        {
            h = BlockCheckpointing.Call(resnets[i], h, temb, checkpoint);
            h = attentions[i].call(h, encoderHiddenStates);
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
