namespace DreamBooth.Tests.Training;

using DreamBooth.Training;
using TorchSharp;
using static TorchSharp.torch;
using AdamW = DreamBooth.Training.AdamW;
using Parameter = TorchSharp.Modules.Parameter;

public sealed class AdamW8bitTests
{
    [Fact]
    public void CreateDynamicMap_Signed_HasBitsandbytesLayout()
    {
        using var code = BlockwiseQuantizer.CreateDynamicMap(signed: true);
        var v = code.data<float>().ToArray();
        Assert.Equal(256, v.Length);
        Assert.True(v.Zip(v.Skip(1)).All(p => p.First < p.Second), "strictly increasing");
        Assert.Equal(127, v.Count(x => x < 0));
        Assert.Contains(0f, v);
        Assert.Equal(1f, v[^1]);
        // Largest fraction of the 10^0 decade: mean of the last two of linspace(0.1, 1, 65) = (0.9859375 + 1) / 2.
        Assert.Equal(0.99296875f, v[^2], 6);
        Assert.Equal(-0.99296875f, v[0], 6);
        // Smallest magnitude: 10^-6 × mean of linspace(0.1, 1, 2) = 0.55e-6.
        Assert.Equal(0.55e-6f, v.Where(x => x > 0).Min(), 12);
    }

    [Fact]
    public void CreateDynamicMap_Unsigned_HasBitsandbytesLayout()
    {
        using var code = BlockwiseQuantizer.CreateDynamicMap(signed: false);
        var v = code.data<float>().ToArray();
        Assert.Equal(256, v.Length);
        Assert.True(v.Zip(v.Skip(1)).All(p => p.First < p.Second), "strictly increasing");
        Assert.Equal(0f, v[0]);
        Assert.Equal(1f, v[^1]);
        // 10^-6 decade has 2 codes: means of linspace(0.1, 1, 3) = 0.325, 0.775.
        Assert.Equal(0.325e-6f, v[1], 12);
        Assert.Equal(0.775e-6f, v[2], 12);
        // 10^0 decade: 128 codes, the largest (0.99296875... of linspace(0.1, 1, 129)) = (0.99296875 + 1) / 2.
        Assert.Equal(0.996484375f, v[^2], 6);
    }

    [Fact]
    public void Quantize_RandomBlocksWithTail_PicksNearestCodeAndRoundTrips()
    {
        using var code = BlockwiseQuantizer.CreateDynamicMap(signed: true);
        using var q = new BlockwiseQuantizer(code, 256);
        var gen = new Generator(11);
        using var x = randn(3 * 256 + 77, generator: gen) * logspace(-3, 1, 3 * 256 + 77);
        using var codes = zeros(x.shape[0], ScalarType.Byte);
        using var absmax = zeros(q.Blocks(x.shape[0]));
        q.Quantize(x, codes, absmax);

        // Reference: brute-force nearest code (bitsandbytes' pure-PyTorch reference uses argmin |x/absmax - code|).
        using var perElementMax = absmax.repeat_interleave(256L).narrow(0, 0, x.shape[0]);
        using var scaled = x / perElementMax;
        using var distance = (scaled.unsqueeze(1) - code.unsqueeze(0)).abs();
        using var best = distance.min(1).values;
        using var chosen = distance.gather(1, codes.to(ScalarType.Int64).unsqueeze(1)).squeeze(1);
        Assert.True((chosen - best).max().item<float>() <= 1e-7f, "a value was not given its nearest code");
        using var blockMax = x.narrow(0, 0, 768).view(3, 256).abs().amax([1L]);
        Assert.True(TensorAssert.Same(absmax.narrow(0, 0, 3), blockMax));

        using var back = q.Dequantize(codes, absmax);
        using var expected = code.index_select(0, codes.to(ScalarType.Int64)) * perElementMax;
        Assert.True(TensorAssert.Same(back, expected));
        // Dynamic codes are at most ~0.8% of absmax apart near 1, so the error is a small fraction of absmax.
        Assert.True(((back - x).abs() / perElementMax).max().item<float>() < 0.01f);
    }

    [Fact]
    public void Quantize_AllZeroBlock_DequantizesToZero()
    {
        using var code = BlockwiseQuantizer.CreateDynamicMap(signed: false);
        using var q = new BlockwiseQuantizer(code, 256);
        using var x = zeros(300);
        using var codes = zeros(300, ScalarType.Byte);
        using var absmax = zeros(2);
        q.Quantize(x, codes, absmax);
        using var back = q.Dequantize(codes, absmax);
        Assert.True(TensorAssert.Same(back, x));
    }

    [Fact]
    public void Step_SmallParameter_KeepsFloat32StateAndEqualsAdamW()
    {
        var gen = new Generator(5);
        using var a = new Parameter(randn(40, 100, generator: gen)); // 4000 < 4096 elements
        using var b = new Parameter(a.detach().clone());
        var o = new AdamWOptions(LearningRate: 1e-2);
        using var eight = new AdamW8bit([("a", a)], o);
        using var full = new AdamW([("b", b)], o);
        for (int i = 0; i < 3; i++)
        {
            using var g = randn(40, 100, generator: gen);
            a.grad = g.clone();
            b.grad = g.clone();
            eight.Step();
            full.Step();
        }
        Assert.False(eight.IsQuantized(0));
        Assert.True(TensorAssert.Same(a, b));
        Assert.Equal(full.StateBytes, eight.StateBytes);
    }

    [Fact]
    public void Step_LinearRegression_TrajectoryStaysCloseToFloat32AdamW()
    {
        // y = X W* + b*, W: 64×128 = 8192 elements (8-bit state), b: 64 (float32 state).
        var gen = new Generator(1234);
        using var x = randn(256, 128, generator: gen);
        using var wTrue = randn(128, 64, generator: gen) * 0.1;
        using var bTrue = randn(64, generator: gen);
        using var y = x.matmul(wTrue) + bTrue;
        using var w0 = randn(128, 64, generator: gen) * 0.01;

        var o = new AdamWOptions(LearningRate: 1e-2, WeightDecay: 1e-2);
        var (w32, b32, loss32) = (new Parameter(w0.clone()), new Parameter(zeros(64)), 0.0);
        var (w8, b8, loss8) = (new Parameter(w0.clone()), new Parameter(zeros(64)), 0.0);
        using var opt32 = new AdamW([("w", w32), ("b", b32)], o);
        using var opt8 = new AdamW8bit([("w", w8), ("b", b8)], o);
        Assert.True(opt8.IsQuantized(0));
        Assert.False(opt8.IsQuantized(1));
        double worst = 0;
        for (int step = 0; step < 150; step++)
        {
            loss32 = TrainStep(opt32, x, y, w32, b32);
            loss8 = TrainStep(opt8, x, y, w8, b8);
            using var moved = (w32.detach() - w0).norm();
            using var apart = (w8.detach() - w32.detach()).norm();
            worst = Math.Max(worst, apart.item<float>() / moved.item<float>());
        }
        using var initial = ((x.matmul(w0) - y).pow(2)).mean();
        // Both converge (loss falls by > 10×) and the 8-bit path stays within a few percent of the fp32 path.
        Assert.True(loss32 < initial.item<float>() / 10, $"fp32 AdamW did not converge: {loss32}");
        Assert.True(worst < 0.05, $"8-bit trajectory deviates by {worst:P2} of the distance travelled");
        Assert.True(Math.Abs(loss8 - loss32) < 0.01 * loss32, $"final loss 8-bit {loss8} vs fp32 {loss32}");
        foreach (var p in new[] { w32, b32, w8, b8 }) p.Dispose();
    }

    private static double TrainStep(IOptimizer opt, Tensor x, Tensor y, Parameter w, Parameter b)
    {
        using var scope = NewDisposeScope();
        opt.ZeroGrad();
        var loss = (x.matmul(w) + b - y).pow(2).mean();
        loss.backward();
        opt.Step();
        return loss.item<float>();
    }

    [Fact]
    public void StateBytes_QuantizedParameter_IsTwoBytesPerElementPlusBlockScales()
    {
        using var w = new Parameter(randn(1000, 100)); // 100,000 elements = 391 blocks of 256
        w.grad = randn(1000, 100);
        using var opt = new AdamW8bit([("w", w)]);
        opt.Step();
        Assert.Equal(2 * 100_000 + 2 * 4 * 391, opt.StateBytes);
        using var full = new AdamW([("w", w)]);
        full.Step();
        Assert.Equal(8 * 100_000, full.StateBytes);
    }

    [Fact]
    public void SaveLoad_Resume_ContinuesBitIdentically()
    {
        var dir = Directory.CreateTempSubdirectory("adamw8-");
        try
        {
            var gen = new Generator(9);
            var grads = Enumerable.Range(0, 4).Select(_ => (randn(70, 90, generator: gen), randn(10, generator: gen))).ToList();
            using var w = new Parameter(randn(70, 90, generator: gen));
            using var b = new Parameter(randn(10, generator: gen));
            using var opt = new AdamW8bit([("w", w), ("b", b)], new AdamWOptions(LearningRate: 1e-2));
            for (int i = 0; i < 2; i++) Step(opt, w, b, grads[i]);
            var path = Path.Combine(dir.FullName, "optimizer.safetensors");
            opt.Save(path);
            using var w2 = new Parameter(w.detach().clone());
            using var b2 = new Parameter(b.detach().clone());
            for (int i = 2; i < 4; i++) Step(opt, w, b, grads[i]);

            using var resumed = new AdamW8bit([("w", w2), ("b", b2)]);
            resumed.Load(path);
            for (int i = 2; i < 4; i++) Step(resumed, w2, b2, grads[i]);
            Assert.True(TensorAssert.Same(w, w2));
            Assert.True(TensorAssert.Same(b, b2));

            using var otherBlocks = new AdamW8bit([("w", w2), ("b", b2)], minEightBitSize: 1);
            Assert.Throws<DreamBoothException>(() => { otherBlocks.Load(path); });
        }
        finally { dir.Delete(true); }
    }

    private static void Step(IOptimizer opt, Parameter w, Parameter b, (Tensor W, Tensor B) g)
    {
        w.grad = g.W.clone();
        b.grad = g.B.clone();
        opt.Step();
    }
}
