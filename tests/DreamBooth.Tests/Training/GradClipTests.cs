namespace DreamBooth.Tests.Training;

using DreamBooth.Training;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

public sealed class GradClipTests
{
    [Fact]
    public void ClipGradNorm_AboveMax_ScalesByMaxOverTotalPlusEps()
    {
        using var a = new Parameter(zeros(2));
        using var b = new Parameter(zeros(1));
        a.grad = tensor(new[] { 3f, 4f });   // norm 5
        b.grad = tensor(new[] { 12f });      // norm 12 → total 13
        double total = GradClip.ClipGradNorm([a, b], 1.0);
        Assert.Equal(13.0, total, 6);
        float coef = 1f / (13f + 1e-6f);
        Assert.Equal([3 * coef, 4 * coef], a.grad!.data<float>().ToArray());
        Assert.Equal(12 * coef, b.grad!.item<float>(), 7);
    }

    [Fact]
    public void ClipGradNorm_BelowMax_LeavesGradsUnchanged()
    {
        using var a = new Parameter(zeros(3));
        a.grad = tensor(new[] { 0.1f, -0.2f, 0.3f });
        using var before = a.grad!.clone();
        double total = GradClip.ClipGradNorm([a], 1.0);
        Assert.Equal(Math.Sqrt(0.14), total, 6);
        Assert.True(TensorAssert.Same(a.grad!, before));
    }

    [Fact]
    public void ClipGradNorm_NoGradients_ReturnsZero()
    {
        using var a = new Parameter(zeros(3));
        Assert.Equal(0.0, GradClip.ClipGradNorm([a], 1.0));
    }

    [Fact]
    public void ClipGradNorm_NonFiniteGradient_ReportsItOrThrows()
    {
        using var a = new Parameter(zeros(2));
        a.grad = tensor(new[] { float.NaN, 1f });
        Assert.True(double.IsNaN(GradClip.ClipGradNorm([a], 1.0)));
        a.grad = tensor(new[] { float.PositiveInfinity, 1f });
        Assert.Throws<DreamBoothException>(() => GradClip.ClipGradNorm([a], 1.0, errorIfNonfinite: true));
    }
}
