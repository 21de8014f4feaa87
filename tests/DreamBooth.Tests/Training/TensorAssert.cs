namespace DreamBooth.Tests.Training;

using static TorchSharp.torch;

internal static class TensorAssert
{
    /// <summary>Same shape and bit-for-bit equal values (NaN never equals).</summary>
    public static bool Same(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape)) return false;
        using var eq = a.detach().eq(b.detach());
        using var all = eq.all();
        return all.item<bool>();
    }

    public static double MaxAbsDiff(Tensor a, Tensor b)
    {
        using var d = (a.detach().to(ScalarType.Float64) - b.detach().to(ScalarType.Float64)).abs().max();
        return d.item<double>();
    }
}
