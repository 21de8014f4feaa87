namespace DreamBooth.Torch;

using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Arithmetic for hot paths that keeps its Scalars alive. TorchSharp 0.107 turns every number it hands to libtorch
/// into a temporary Scalar (<c>t * 0.5</c>, <c>t.clamp_max(g)</c>, <c>arange(n)</c>, and the alpha of 1 behind
/// <c>a + b</c> and <c>add_</c>) and passes only its raw handle to the native call, so nothing keeps the Scalar
/// reachable during the call: a garbage collection started by another thread can finalize (free) it while libtorch
/// still reads it. That surfaces as a rare "Unknown scalar type" or "Expected false to be true" error from libtorch
/// under load (OpsTests reproduces it; see dotnet/TorchSharp pull request 1434). Here each Scalar lives until the
/// native call has returned. Each helper calls the same TorchSharp method as the operator it replaces, so results
/// are bit for bit the same.
/// </summary>
public static class Ops
{
    private static readonly Scalar One = 1.ToScalar();

    /// <summary>a + b, element-wise with broadcasting.</summary>
    public static Tensor Add(Tensor a, Tensor b) => a.add(b, One);

    /// <summary>a += b in place; returns a.</summary>
    public static Tensor AddInPlace(Tensor a, Tensor b) => a.add_(b, One);

    /// <summary>t + s.</summary>
    public static Tensor Add(Tensor t, double s)
    {
        using var scalar = s.ToScalar();
        return t.add(scalar, One);
    }

    /// <summary>t += s in place; returns t.</summary>
    public static Tensor AddInPlace(Tensor t, double s)
    {
        using var scalar = s.ToScalar();
        return t.add_(scalar, One);
    }

    /// <summary>t − s.</summary>
    public static Tensor Sub(Tensor t, double s)
    {
        using var scalar = s.ToScalar();
        return t.sub(scalar);
    }

    /// <summary>s − t, computed as TorchSharp's operator does: (−t) + s.</summary>
    public static Tensor Sub(double s, Tensor t)
    {
        using var scalar = s.ToScalar();
        using var negated = t.negative();
        return negated.add(scalar, One);
    }

    /// <summary>t · s.</summary>
    public static Tensor Mul(Tensor t, double s)
    {
        using var scalar = s.ToScalar();
        return t.mul(scalar);
    }

    /// <summary>t ·= s in place; returns t.</summary>
    public static Tensor MulInPlace(Tensor t, double s)
    {
        using var scalar = s.ToScalar();
        return t.mul_(scalar);
    }

    /// <summary>t / s.</summary>
    public static Tensor Div(Tensor t, double s)
    {
        using var scalar = s.ToScalar();
        return t.div(scalar);
    }

    /// <summary>t ** s.</summary>
    public static Tensor Pow(Tensor t, double s)
    {
        using var scalar = s.ToScalar();
        return t.pow(scalar);
    }

    /// <summary>min(max(t, min), max).</summary>
    public static Tensor Clamp(Tensor t, double min, double max)
    {
        using var low = min.ToScalar();
        using var high = max.ToScalar();
        return t.clamp(low, high);
    }

    /// <summary>max(t, min).</summary>
    public static Tensor ClampMin(Tensor t, double min)
    {
        using var low = min.ToScalar();
        return t.clamp_min(low);
    }

    /// <summary>min(t, max).</summary>
    public static Tensor ClampMax(Tensor t, double max)
    {
        using var high = max.ToScalar();
        return t.clamp_max(high);
    }

    /// <summary>[start, start + 1, …, stop − 1] (torch.arange with integer bounds).</summary>
    public static Tensor Arange(long start, long stop, ScalarType dtype, Device device)
    {
        using var first = start.ToScalar();
        using var end = stop.ToScalar();
        return arange(first, end, One, dtype, device);
    }

    /// <summary>A tensor of <paramref name="shape"/> filled with <paramref name="value"/>.</summary>
    public static Tensor Full(long[] shape, double value, ScalarType dtype, Device device)
    {
        using var scalar = value.ToScalar();
        return full(shape, scalar, dtype, device);
    }

    /// <summary>
    /// The 2-norm of all elements, as torch.linalg.vector_norm(t) (TorchSharp's <c>linalg.vector_norm</c> makes its
    /// order a temporary Scalar; <c>Tensor.norm</c> hands libtorch a plain float and computes the same reduction).
    /// </summary>
    public static Tensor Norm2(Tensor t) => t.norm(2f);

    /// <summary>
    /// torch.baddbmm(input, batch1, batch2, beta, alpha) = beta·input + alpha·(batch1 @ batch2). TorchSharp 0.107 hands
    /// its arguments to libtorch in another order than their names say (both its static and instance forms); this
    /// call is arranged so libtorch receives them in PyTorch's order (checked by OpsTests against alpha·bmm).
    /// </summary>
    public static Tensor Baddbmm(Tensor input, Tensor batch1, Tensor batch2, double beta, double alpha) =>
        batch1.baddbmm(batch2, input, (float)beta, (float)alpha);
}
