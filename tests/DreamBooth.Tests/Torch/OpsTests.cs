namespace DreamBooth.Tests.Torch;

using DreamBooth.Models;
using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;

public class OpsTests
{
    [Fact]
    public void Baddbmm_ArgumentsReachLibtorchInPyTorchOrder()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(5);
        var input = randn([3, 4, 6], ScalarType.Float64, generator: g);
        var b1 = randn([3, 4, 5], ScalarType.Float64, generator: g);
        var b2 = randn([3, 5, 6], ScalarType.Float64, generator: g);
        var expected = input * 0.5 + b1.bmm(b2) * 0.25;
        var actual = Ops.Baddbmm(input, b1, b2, 0.5, 0.25);
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(actual.allclose(expected, 1e-6, 1e-6));
    }

    [Fact]
    public void Attention_MathKernel_AgreesWithSdpa()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var attention = new Attention(32, crossAttentionDim: 24, heads: 2, dimHead: 16);
        var x = randn(2, 9, 32);
        var context = randn(2, 5, 24);
        using var noGrad = no_grad();
        var sdpa = attention.call(x, context);
        attention.Kernel = AttentionKernel.Math;
        var math = attention.call(x, context);
        attention.SliceSize = 3;
        var sliced = attention.call(x, context);
        Assert.True(math.allclose(sdpa, 1e-5, 1e-6), $"max |diff| {(math - sdpa).abs().max().item<float>():E2}");
        Assert.True(sliced.allclose(math, 1e-6, 1e-7));
    }
}
