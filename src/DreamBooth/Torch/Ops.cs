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
}
