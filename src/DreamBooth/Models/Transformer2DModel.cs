// Mirrors diffusers src/diffusers/models/transformers/transformer_2d.py::Transformer2DModel
// (continuous input only, norm_type="layer_norm": what the SD 1.x/2.x/XL UNets use).
namespace DreamBooth.Models;

using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>
/// Runs a stack of <see cref="BasicTransformerBlock"/>s over the pixels of a feature map, with a residual around it.
/// SD 1.x projects in/out with 1×1 convolutions; SD 2.x and SDXL (use_linear_projection) with linear layers on tokens.
/// </summary>
public sealed class Transformer2DModel : Module<Tensor, Tensor?, Tensor>, ICheckpointable
{
    private readonly Modules.GroupNorm norm;
    private readonly Module<Tensor, Tensor> proj_in;
    private readonly Modules.ModuleList<BasicTransformerBlock> transformer_blocks;
    private readonly Module<Tensor, Tensor> proj_out;
    private readonly bool useLinearProjection;

    public Transformer2DModel(long numAttentionHeads, long attentionHeadDim, long inChannels, long numLayers,
                              long? crossAttentionDim, int normNumGroups, bool useLinearProjection, bool upcastAttention,
                              double dropout = 0.0, Device? device = null, ScalarType? dtype = null)
        : base(nameof(Transformer2DModel))
    {
        long inner = numAttentionHeads * attentionHeadDim;
        norm = Layers.GroupNorm(normNumGroups, inChannels, 1e-6, device, dtype);   // eps 1e-6 is fixed in diffusers
        proj_in = useLinearProjection
            ? Linear(inChannels, inner, device: device, dtype: dtype)
            : Conv2d(inChannels, inner, kernel_size: 1, device: device, dtype: dtype);
        transformer_blocks = new Modules.ModuleList<BasicTransformerBlock>();
        for (long i = 0; i < numLayers; i++)
            transformer_blocks.Add(new BasicTransformerBlock(inner, numAttentionHeads, attentionHeadDim, crossAttentionDim,
                                                             upcastAttention, dropout, device, dtype));
        proj_out = useLinearProjection
            ? Linear(inner, inChannels, device: device, dtype: dtype)
            : Conv2d(inner, inChannels, kernel_size: 1, device: device, dtype: dtype);
        this.useLinearProjection = useLinearProjection;
        RegisterComponents();
    }

    /// <summary>Recompute each transformer block in backward instead of keeping its activations (set by
    /// UNet2DConditionModel.GradientCheckpointing; acts only in training mode with grad enabled).</summary>
    public bool GradientCheckpointing { get; set; }

    /// <param name="hiddenStates">[B, C, H, W].</param>
    /// <param name="encoderHiddenStates">[B, M, crossAttentionDim].</param>
    public override Tensor forward(Tensor hiddenStates, Tensor? encoderHiddenStates)
    {
        using var scope = NewDisposeScope();
        long b = hiddenStates.shape[0], h = hiddenStates.shape[2], w = hiddenStates.shape[3];
        var x = norm.call(hiddenStates);
        if (useLinearProjection)
        {
            x = x.permute(0, 2, 3, 1).reshape(b, h * w, x.shape[1]);                  // [B, HW, C]
            x = proj_in.call(x);                                                       // [B, HW, inner]
        }
        else
        {
            x = proj_in.call(x);                                                       // [B, inner, H, W]
            x = x.permute(0, 2, 3, 1).reshape(b, h * w, x.shape[1]);                  // [B, HW, inner]
        }

        bool checkpoint = BlockCheckpointing.Active(this, GradientCheckpointing);
        foreach (var block in transformer_blocks)
            x = BlockCheckpointing.Call(block, x, encoderHiddenStates, checkpoint);

        if (useLinearProjection)
        {
            x = proj_out.call(x);                                                      // [B, HW, C]
            x = x.reshape(b, h, w, x.shape[2]).permute(0, 3, 1, 2).contiguous();      // [B, C, H, W]
        }
        else
        {
            x = x.reshape(b, h, w, x.shape[2]).permute(0, 3, 1, 2).contiguous();      // [B, inner, H, W]
            x = proj_out.call(x);                                                      // [B, C, H, W]
        }
        return Ops.Add(x, hiddenStates).MoveToOuterDisposeScope();
    }
}
