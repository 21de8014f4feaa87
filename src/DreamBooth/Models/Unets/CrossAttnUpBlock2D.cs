// Mirrors diffusers src/diffusers/models/unets/unet_2d_blocks.py::CrossAttnUpBlock2D
// (dual_cross_attention=False, only_cross_attention=False, no FreeU).
namespace DreamBooth.Models.Unets;

using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>(concat skip → Resnet → Transformer2D) × numLayers, then an optional nearest ×2 upsampler.</summary>
public sealed class CrossAttnUpBlock2D : Module<Tensor, Tensor[], Tensor, Tensor?, long[]?, Tensor>, ICheckpointable
{
    private readonly Modules.ModuleList<Transformer2DModel> attentions;
    private readonly Modules.ModuleList<ResnetBlock2D> resnets;
    private readonly Modules.ModuleList<Upsample2D>? upsamplers;

    public CrossAttnUpBlock2D(long inChannels, long prevOutputChannels, long outChannels, long tembChannels, int numLayers,
                              int transformerLayersPerBlock, int resnetGroups, double resnetEps, long numAttentionHeads,
                              long crossAttentionDim, bool addUpsample, bool useLinearProjection = false, bool upcastAttention = false,
                              double dropout = 0.0, Device? device = null, ScalarType? dtype = null)
        : base(nameof(CrossAttnUpBlock2D))
    {
        attentions = new Modules.ModuleList<Transformer2DModel>();
        resnets = new Modules.ModuleList<ResnetBlock2D>();
        for (int i = 0; i < numLayers; i++)
        {
            long skipChannels = i == numLayers - 1 ? inChannels : outChannels;
            long resnetIn = i == 0 ? prevOutputChannels : outChannels;
            resnets.Add(new ResnetBlock2D(resnetIn + skipChannels, outChannels, tembChannels, resnetGroups, resnetEps, dropout,
                                          device: device, dtype: dtype));
            attentions.Add(new Transformer2DModel(numAttentionHeads, outChannels / numAttentionHeads, outChannels,
                                                  transformerLayersPerBlock, crossAttentionDim, resnetGroups, useLinearProjection,
                                                  upcastAttention, device: device, dtype: dtype));
        }
        upsamplers = addUpsample ? new Modules.ModuleList<Upsample2D>(new Upsample2D(outChannels, outChannels, device, dtype)) : null;
        RegisterComponents();
    }

    /// <summary>Recompute each resnet in backward instead of keeping its activations (set by
    /// <see cref="UNet2DConditionModel.GradientCheckpointing"/>; acts only in training mode with grad enabled).</summary>
    public bool GradientCheckpointing { get; set; }

    /// <param name="skips">This block's skip tensors in down-path order; consumed from the last.</param>
    /// <param name="upsampleSize">[H, W] for the upsampler when the latent size is not a multiple of the UNet's stride.</param>
    public override Tensor forward(Tensor hiddenStates, Tensor[] skips, Tensor temb, Tensor? encoderHiddenStates, long[]? upsampleSize)
    {
        if (skips.Length != resnets.Count)
            throw new ArgumentException($"CrossAttnUpBlock2D needs {resnets.Count} skip tensors, got {skips.Length}.", nameof(skips));
        using var scope = NewDisposeScope();
        var h = hiddenStates;
        bool checkpoint = BlockCheckpointing.Active(this, GradientCheckpointing);
        for (int i = 0; i < resnets.Count; i++)
        {
            h = cat([h, skips[^(i + 1)]], 1);                                               // [B, C + C_skip, H, W]
            h = BlockCheckpointing.Call(resnets[i], h, temb, checkpoint);
            h = attentions[i].call(h, encoderHiddenStates);
        }
        if (upsamplers is not null)
            foreach (var up in upsamplers) h = up.call(h, upsampleSize);
        return h.MoveToOuterDisposeScope();
    }
}
