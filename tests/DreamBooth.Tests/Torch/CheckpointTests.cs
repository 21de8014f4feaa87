namespace DreamBooth.Tests.Torch;

using DreamBooth.Tests.Training;
using DreamBooth.Torch;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

// Seeds and draws from torch's default generator, so it must not run beside other tests.
[Collection(nameof(ProcessWideState))]
public sealed class CheckpointTests
{
    /// <summary>conv → GroupNorm → SiLU → + time embedding → cross-attention over the pixels → residual,
    /// optionally with dropout on the attention output: a miniature UNet transformer/resnet pair.</summary>
    private sealed class MiniBlock : nn.Module<Tensor, Tensor, Tensor, Tensor>
    {
        private readonly Conv2d conv;
        private readonly GroupNorm norm;
        private readonly Linear time_emb_proj;
        private readonly Linear to_q;
        private readonly Linear to_k;
        private readonly Linear to_v;
        private readonly Linear to_out;
        private readonly double dropout;

        public MiniBlock(double dropout = 0) : base(nameof(MiniBlock))
        {
            conv = nn.Conv2d(8, 8, 3, padding: 1);
            norm = nn.GroupNorm(4, 8);
            using (no_grad())
            {
                // TorchSharp can leave GroupNorm's affine parameters uninitialised: garbage made this test NaN at random.
                norm.weight!.fill_(1.0);
                norm.bias!.zero_();
            }
            time_emb_proj = nn.Linear(16, 8);
            to_q = nn.Linear(8, 8);
            to_k = nn.Linear(12, 8);
            to_v = nn.Linear(12, 8);
            to_out = nn.Linear(8, 8);
            this.dropout = dropout;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x, Tensor temb, Tensor context)
        {
            using var scope = NewDisposeScope();
            var h = nn.functional.silu(norm.call(conv.call(x)));
            h = h + time_emb_proj.call(temb)[.., .., TensorIndex.None, TensorIndex.None];
            var (b, c, height, width) = (h.shape[0], h.shape[1], h.shape[2], h.shape[3]);
            var tokens = h.flatten(2).transpose(1, 2);                  // [B, HW, C]
            var q = to_q.call(tokens);
            var k = to_k.call(context);                                 // [B, T, C]
            var v = to_v.call(context);
            var attn = q.matmul(k.transpose(1, 2)).div(Math.Sqrt(c)).softmax(-1);
            var o = to_out.call(attn.matmul(v));
            if (dropout > 0) o = nn.functional.dropout(o, dropout, training: true);
            var result = x + o.transpose(1, 2).reshape(b, c, height, width);
            return result.MoveToOuterDisposeScope();
        }
    }

    private static (Tensor X, Tensor Temb, Tensor Context) Inputs(int seed)
    {
        var gen = new Generator((ulong)seed);
        return (randn([2, 8, 6, 6], generator: gen), randn([2, 16], generator: gen), randn([2, 5, 12], generator: gen));
    }

    private static List<Tensor> Gradients(MiniBlock block, bool checkpointed, int seed, bool inputsRequireGrad = true,
        long rngSeed = 0, bool preserveRng = true)
    {
        using var scope = NewDisposeScope();
        block.zero_grad();
        var (x, temb, ctx) = Inputs(seed);
        foreach (var t in new[] { x, temb, ctx }) t.requires_grad_(inputsRequireGrad);
        manual_seed(rngSeed);
        var y = checkpointed
            ? Checkpoint.Run(xs => block.call(xs[0]!, xs[1]!, xs[2]!), [x, temb, ctx], preserveRng)
            : block.call(x, temb, ctx);
        // Draw from the generator between forward and backward, as the rest of a training step would.
        using (var noise = randn(100)) { }
        (y * y.detach().cos()).sum().backward();
        var grads = new List<Tensor>();
        if (inputsRequireGrad) grads.AddRange([x.grad!, temb.grad!, ctx.grad!]);
        grads.AddRange(block.parameters().Select(p => p.grad!));
        foreach (var g in grads) Assert.NotNull(g);
        return grads.Select(g => g.clone().MoveToOuterDisposeScope()).ToList();
    }

    private static double MaxDiff(List<Tensor> a, List<Tensor> b)
    {
        Assert.Equal(a.Count, b.Count);
        return a.Zip(b).Max(p => TensorAssert.MaxAbsDiff(p.First, p.Second));
    }

    [Fact]
    public void Run_ConvAttentionBlockSeveralInputs_GradientsEqualPlainBackward()
    {
        using var block = new MiniBlock();
        var plain = Gradients(block, checkpointed: false, seed: 1);
        var ckpt = Gradients(block, checkpointed: true, seed: 1);
        Assert.True(MaxDiff(plain, ckpt) <= 1e-6, $"max |diff| {MaxDiff(plain, ckpt)}");
        Assert.Equal(3 + block.parameters().Count(), ckpt.Count);
    }

    [Fact]
    public void Run_InputsWithoutGrad_ParametersStillGetGradients()
    {
        using var block = new MiniBlock();
        var plain = Gradients(block, checkpointed: false, seed: 2, inputsRequireGrad: false);
        var ckpt = Gradients(block, checkpointed: true, seed: 2, inputsRequireGrad: false);
        Assert.True(MaxDiff(plain, ckpt) <= 1e-6);
    }

    [Fact]
    public void Run_Dropout_RecomputesSameMaskFromSavedGeneratorState()
    {
        using var block = new MiniBlock(dropout: 0.5);
        var plain = Gradients(block, checkpointed: false, seed: 3, rngSeed: 42);
        var ckpt = Gradients(block, checkpointed: true, seed: 3, rngSeed: 42);
        Assert.True(MaxDiff(plain, ckpt) <= 1e-6, $"max |diff| {MaxDiff(plain, ckpt)}");
        // Without restoring the generator the recomputation draws other masks: the gradients differ.
        var unpreserved = Gradients(block, checkpointed: true, seed: 3, rngSeed: 42, preserveRng: false);
        Assert.True(MaxDiff(plain, unpreserved) > 1e-3);
    }

    [Fact]
    public void Run_SingleTensorAndNoGrad_MatchPlainForward()
    {
        using var lin = nn.Linear(4, 4);
        using var x = randn(3, 4).requires_grad_();
        using var plain = lin.call(x);
        using var ckpt = Checkpoint.Run(t => lin.call(t), x);
        Assert.True(TensorAssert.Same(plain, ckpt));
        Assert.True(ckpt.requires_grad);
        using (no_grad())
        {
            using var inference = Checkpoint.Run(t => lin.call(t), x);
            Assert.False(inference.requires_grad);
        }
        ckpt.sum().backward();
        using var gx = x.grad!.clone();
        x.grad = null;
        plain.sum().backward();
        Assert.True(TensorAssert.Same(gx, x.grad!));
    }

    [Fact]
    public void Run_ForwardScopeClosedBeforeBackward_BackwardStillRecomputes()
    {
        using var block = new MiniBlock(dropout: 0.2);
        var expected = Gradients(block, checkpointed: false, seed: 4, rngSeed: 5);
        block.zero_grad();
        var (x, temb, ctx) = Inputs(4);
        foreach (var t in new[] { x, temb, ctx }) t.requires_grad_();
        manual_seed(5);
        Tensor loss;
        using (NewDisposeScope())
        {
            // As a training step does: every temporary of the forward is disposed, only the loss survives.
            var y = Checkpoint.Run(xs => block.call(xs[0]!, xs[1]!, xs[2]!), [x, temb, ctx]);
            using (var noise = randn(100)) { }
            loss = (y * y.detach().cos()).sum().MoveToOuterDisposeScope();
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        loss.backward();
        var actual = new List<Tensor> { x.grad!, temb.grad!, ctx.grad! };
        actual.AddRange(block.parameters().Select(p => p.grad!));
        Assert.True(MaxDiff(expected, actual) <= 1e-6);
    }

    [Fact]
    public void Backward_BlockThrowsDuringRecompute_SurfacesAsDreamBoothException()
    {
        using var lin = nn.Linear(4, 4);
        using var x = randn(2, 4).requires_grad_();
        int calls = 0;
        using var y = Checkpoint.Run(t => ++calls == 1 ? lin.call(t) : throw new InvalidOperationException("boom"), x);
        using var loss = y.sum();
        var e = Assert.Throws<DreamBoothException>(() => Checkpoint.Backward(loss));
        Assert.Contains("boom", e.Message);
        Checkpoint.ThrowIfBackwardFailed(); // reported once
    }

    [Fact]
    public void RunMany_TwoOutputsAndNullInput_GradientsEqualPlain()
    {
        using var lin = nn.Linear(4, 4);
        List<Tensor> Grads(bool checkpointed)
        {
            using var scope = NewDisposeScope();
            lin.zero_grad();
            var x = ones(2, 4).requires_grad_();
            IReadOnlyList<Tensor> Block(IReadOnlyList<Tensor?> xs)
            {
                Assert.Null(xs[1]);
                var h = lin.call(xs[0]!);
                return [h.tanh(), h.exp()];
            }
            var outs = checkpointed ? Checkpoint.RunMany(Block, [x, null]) : Block([x, null]);
            (outs[0].sum() + 2 * outs[1].sum()).backward();
            return new[] { x.grad!, lin.weight!.grad!, lin.bias!.grad! }.Select(g => g.clone().MoveToOuterDisposeScope()).ToList();
        }
        Assert.True(MaxDiff(Grads(false), Grads(true)) <= 1e-6);
    }
}
