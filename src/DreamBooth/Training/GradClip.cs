// Mirrors torch.nn.utils.clip_grad_norm_ (torch 1.13, single device)
namespace DreamBooth.Training;

using DreamBooth.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

/// <summary>Gradient-norm clipping, as torch.nn.utils.clip_grad_norm_.</summary>
public static class GradClip
{
    /// <summary>Scales all gradients in place so their joint 2-norm is at most <paramref name="maxNorm"/>, exactly as
    /// torch does: total = ‖(‖g₁‖, ‖g₂‖, …)‖ (float32), coef = min(1, max_norm / (total + 1e-6)), every grad *= coef
    /// (also when coef is 1). Returns the total norm before clipping; it is NaN or ∞ when a gradient is not finite
    /// (the grads then become NaN, as in torch) unless <paramref name="errorIfNonfinite"/> makes it throw.</summary>
    public static double ClipGradNorm(IEnumerable<Parameter> parameters, double maxNorm, bool errorIfNonfinite = false)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var grads = parameters.Select(p => p.grad).Where(g => g is not null).Select(g => g!).ToList();
        if (grads.Count == 0) return 0.0;
        var device = grads[0].device;
        var norms = grads.Select(g => Ops.Norm2(g).to(device)).ToList();
        var total = Ops.Norm2(stack(norms));
        double totalValue = total.to(ScalarType.Float64).item<double>();
        if (errorIfNonfinite && !double.IsFinite(totalValue))
            throw new DreamBoothException($"The total norm of the gradients is {totalValue}, so they cannot be clipped (a NaN or infinite gradient).");
        // `max_norm / (total + 1e-6)` on a tensor is torch's __rtruediv__: reciprocal, then multiply.
        var coef = Ops.ClampMax(Ops.Mul(Ops.Add(total, 1e-6).reciprocal(), maxNorm), 1.0);
        foreach (var g in grads) g.mul_(coef.to(g.device));
        return totalValue;
    }
}
