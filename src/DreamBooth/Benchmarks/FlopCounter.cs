namespace DreamBooth.Benchmarks;

using DreamBooth.Models;
using DreamBooth.Models.Clip;
using TorchSharp;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

/// <summary>
/// Counts the floating-point operations of forward passes from the layer shapes actually seen (forward hooks):
/// convolutions and linear layers as 2·MACs, attention as the two matrix products Q·Kᵀ and P·V. Norms, activations
/// and element-wise ops are left out (a few percent of a UNet); a training step counts as 3× its forward.
/// </summary>
public sealed class FlopCounter : IDisposable
{
    private readonly List<Action> removers = [];   // TorchSharp's hook handles, as their remove()

    public double Flops { get; private set; }

    public FlopCounter(params nn.Module[] models)
    {
        foreach (var model in models)
            foreach (var module in model.named_modules().Select(m => m.module).Prepend(model).Distinct())   // TorchSharp leaves the root out
            {
                switch (module)
                {
                    case Modules.Conv2d conv:
                        removers.Add(conv.register_forward_hook((m, input, output) =>
                        {
                            var w = conv.weight!.shape;                                  // [out, in/groups, kh, kw]
                            Flops += 2.0 * output.numel() * w[1] * w[2] * w[3];
                            return output;
                        }).remove);
                        break;
                    case Modules.Linear linear:
                        removers.Add(linear.register_forward_hook((m, input, output) =>
                        {
                            Flops += 2.0 * output.numel() * linear.in_features;
                            return output;
                        }).remove);
                        break;
                    case Attention attention:
                        removers.Add(attention.register_forward_hook((m, x, context, output) =>
                        {
                            long b = x.shape[0], n = x.dim() == 4 ? x.shape[2] * x.shape[3] : x.shape[1];
                            long keys = context is null ? n : context.shape[1];
                            Flops += 4.0 * b * n * keys * attention.InnerDim;            // Q·Kᵀ and P·V
                            return output;
                        }).remove);
                        break;
                    case CLIPAttention clip:
                        removers.Add(clip.register_forward_hook((m, x, mask, output) =>
                        {
                            Flops += 4.0 * x.shape[0] * x.shape[1] * x.shape[1] * x.shape[2];
                            return output;
                        }).remove);
                        break;
                }
            }
    }

    public void Reset() => Flops = 0;

    public void Dispose()
    {
        foreach (var remove in removers) remove();
        removers.Clear();
    }
}
