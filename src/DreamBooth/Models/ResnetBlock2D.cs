// Mirrors diffusers src/diffusers/models/resnet.py::ResnetBlock2D (time_embedding_norm="default", swish).
namespace DreamBooth.Models;

using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;
using static TorchSharp.torch.nn;

/// <summary>GroupNorm → SiLU → conv twice, with the time embedding added in between and a (1×1 conv) skip connection.</summary>
public sealed class ResnetBlock2D : Module<Tensor, Tensor?, Tensor>
{
    // Field names are state_dict keys. Do not rename. Convs and the Linear are typed as modules so a LoRA wrapper
    // can take their place.
    private readonly Modules.GroupNorm norm1;
    private readonly Module<Tensor, Tensor> conv1;
    private readonly Module<Tensor, Tensor>? time_emb_proj;   // Linear; null in the VAE (no time embedding)
    private readonly Modules.GroupNorm norm2;
    private readonly Modules.Dropout dropout;
    private readonly Module<Tensor, Tensor> conv2;
    private readonly Module<Tensor, Tensor>? conv_shortcut;   // 1×1, only when channel counts differ
    private readonly double outputScaleFactor;

    public ResnetBlock2D(long inChannels, long outChannels, long? tembChannels, int groups, double eps,
                         double dropoutP = 0.0, double outputScaleFactor = 1.0, Device? device = null, ScalarType? dtype = null)
        : base(nameof(ResnetBlock2D))
    {
        norm1 = Layers.GroupNorm(groups, inChannels, eps, device, dtype);
        conv1 = Conv2d(inChannels, outChannels, kernel_size: 3, padding: 1, device: device, dtype: dtype);
        time_emb_proj = tembChannels is long t ? Linear(t, outChannels, device: device, dtype: dtype) : null;
        norm2 = Layers.GroupNorm(groups, outChannels, eps, device, dtype);
        dropout = Dropout(dropoutP);
        conv2 = Conv2d(outChannels, outChannels, kernel_size: 3, padding: 1, device: device, dtype: dtype);
        conv_shortcut = inChannels != outChannels ? Conv2d(inChannels, outChannels, kernel_size: 1, device: device, dtype: dtype) : null;
        this.outputScaleFactor = outputScaleFactor;
        RegisterComponents();
    }

    public override Tensor forward(Tensor input, Tensor? temb)
    {
        using var scope = NewDisposeScope();
        var h = conv1.call(functional.silu(norm1.call(input)));                          // [B, out, H, W]
        if (time_emb_proj is not null && temb is not null)
            h = Ops.Add(h, time_emb_proj.call(functional.silu(temb))[.., .., TensorIndex.None, TensorIndex.None]);
        h = conv2.call(dropout.call(functional.silu(norm2.call(h))));
        var skip = conv_shortcut is null ? input : conv_shortcut.call(input);
        var output = Ops.Add(skip, h);
        if (outputScaleFactor != 1.0) output = Ops.Div(output, outputScaleFactor);
        return output.MoveToOuterDisposeScope();
    }
}
