// Mirrors diffusers src/diffusers/models/autoencoders/vae.py::DiagonalGaussianDistribution (deterministic=False).
namespace DreamBooth.Models.Autoencoders;

using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// The VAE posterior q(z|x): a diagonal Gaussian whose mean and log-variance are the two channel halves of the
/// encoder's moments. Owns its tensors; dispose it (or let the caller's dispose scope collect them).
/// </summary>
public sealed class DiagonalGaussianDistribution : IDisposable
{
    /// <summary>The encoder's moments [B, 2·latent, h, w].</summary>
    public Tensor Parameters { get; }
    public Tensor Mean { get; }

    /// <summary>Log-variance clamped to [-30, 20] so that exp() neither underflows to 0 nor overflows.</summary>
    public Tensor LogVar { get; }
    public Tensor Std { get; }
    public Tensor Var { get; }

    public DiagonalGaussianDistribution(Tensor parameters)
    {
        Parameters = parameters;
        var halves = parameters.chunk(2, dim: 1);                                        // 2 × [B, latent, h, w]
        Mean = halves[0];
        LogVar = Ops.Clamp(halves[1], -30.0, 20.0);
        halves[1].Dispose();
        Std = Ops.Mul(LogVar, 0.5).exp_();
        Var = LogVar.exp();
    }

    /// <summary>
    /// mean + std · ε with ε ~ N(0, I) drawn like diffusers' <c>randn_tensor</c>: in the moments' dtype, on the
    /// generator's device when that is the CPU (then moved), so a seeded CPU generator gives PyTorch's numbers.
    /// </summary>
    public Tensor Sample(Generator? generator = null)
    {
        using var scope = NewDisposeScope();
        var device = Parameters.device;
        var randDevice = generator is not null && generator.device.type == DeviceType.CPU ? CPU : device;
        var eps = randn(Mean.shape, dtype: Parameters.dtype, device: randDevice, generator: generator).to(device);
        return Ops.Add(Mean, Std * eps).MoveToOuterDisposeScope();
    }

    /// <summary>The distribution's mode, i.e. its mean (a new reference the caller may dispose).</summary>
    public Tensor Mode() => Mean.alias();

    public void Dispose()
    {
        Var.Dispose();
        Std.Dispose();
        LogVar.Dispose();
        Mean.Dispose();
        Parameters.Dispose();
    }
}
