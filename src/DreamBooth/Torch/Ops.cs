namespace DreamBooth.Torch;

using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Arithmetic for hot paths that keeps its Scalars alive. TorchSharp's <c>a + b</c> passes a temporary Scalar(1) as
/// alpha, and <c>t * 0.5</c> a temporary Scalar(0.5); the garbage collector may finalize (free) such a temporary while
/// libtorch still reads it, which surfaces as a rare "value cannot be converted to type float" error under load
/// (see dotnet/TorchSharp pull request 1434). Here the Scalar lives until the native call has returned.
/// </summary>
public static class Ops
{
    private static readonly Scalar One = 1.ToScalar();

    /// <summary>a + b, element-wise with broadcasting.</summary>
    public static Tensor Add(Tensor a, Tensor b) => a.add(b, One);

    /// <summary>t · s.</summary>
    public static Tensor Mul(Tensor t, double s)
    {
        using var scalar = s.ToScalar();
        return t.mul(scalar);
    }

    /// <summary>
    /// torch.baddbmm(input, batch1, batch2, beta, alpha) = beta·input + alpha·(batch1 @ batch2). TorchSharp 0.107 hands
    /// its arguments to libtorch in another order than their names say (both its static and instance forms); this
    /// call is arranged so libtorch receives them in PyTorch's order (checked by OpsTests against alpha·bmm).
    /// </summary>
    public static Tensor Baddbmm(Tensor input, Tensor batch1, Tensor batch2, double beta, double alpha) =>
        batch1.baddbmm(batch2, input, (float)beta, (float)alpha);
}
