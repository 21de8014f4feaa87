namespace DreamBooth.Tests.Models.Unets;

using DreamBooth.Models;
using DreamBooth.Models.Unets;
using DreamBooth.Tests.Training;
using DreamBooth.Torch;
using Xunit.Abstractions;
using static TorchSharp.torch;

// Checkpointing resets the default generator in backward and Checkpoint.Backward's failure slot is static: run alone.
[Collection(nameof(ProcessWideState))]
public sealed class UNet2DConditionModelCheckpointingTests(ITestOutputHelper output)
{
    private sealed record Inputs(Tensor Sample, Tensor Timestep, Tensor Context, (Tensor, Tensor)? Added, Tensor Target);

    private static Inputs MakeInputs(UNet2DConditionModel unet, long batch, long size)
    {
        var gen = new Generator(1234);
        var c = unet.Config;
        var sample = randn([batch, c.InChannels, size, size], generator: gen);
        var timestep = tensor(new long[] { 999, 17, 500, 3 }[..(int)batch]);
        var context = randn([batch, 8, c.CrossAttentionDim[0]], generator: gen);
        (Tensor, Tensor)? added = null;
        if (c.AdditionEmbedType == "text_time")
        {
            long textDim = c.ProjectionClassEmbeddingsInputDim!.Value - 6 * c.AdditionTimeEmbedDim!.Value;
            added = (randn([batch, textDim], generator: gen), tensor(new float[] { 64, 64, 0, 0, 64, 64 }).repeat(batch, 1));
        }
        var target = randn([batch, c.OutChannels, size, size], generator: gen);
        return new Inputs(sample, timestep, context, added, target);
    }

    /// <summary>Forward + MSE backward in training mode; returns the prediction, then the sample, context and every
    /// parameter gradient (in parameters() order).</summary>
    private static List<Tensor> ForwardBackward(UNet2DConditionModel unet, Inputs inputs)
    {
        using var scope = NewDisposeScope();
        unet.zero_grad();
        var sample = inputs.Sample.detach().requires_grad_(true);
        var context = inputs.Context.detach().requires_grad_(true);
        var pred = unet.call(sample, inputs.Timestep, context, inputs.Added);
        Checkpoint.Backward(nn.functional.mse_loss(pred, inputs.Target));
        var result = new List<Tensor> { pred.detach(), sample.grad!, context.grad! };
        result.AddRange(unet.parameters().Select(p => p.grad!));
        Assert.All(result, Assert.NotNull);
        return [.. result.Select(t => t.clone().MoveToOuterDisposeScope())];
    }

    /// <summary>Counts forward calls of every resnet and transformer block (a checkpointed one runs twice).</summary>
    private static Func<int> CountBlockCalls(UNet2DConditionModel unet)
    {
        int calls = 0;
        foreach (var (_, m) in unet.named_modules())
        {
            if (m is ResnetBlock2D r) r.register_forward_hook((_, _, _, o) => { calls++; return o; });
            if (m is BasicTransformerBlock b) b.register_forward_hook((_, _, _, o) => { calls++; return o; });
        }
        return () => calls;
    }

    [Theory]
    [InlineData("sd15-tiny")]
    [InlineData("sdxl-tiny")]
    public void GradientCheckpointing_Training_MatchesPlainOutputsAndGradients(string pipeline)
    {
        using var scope = NewDisposeScope();
        using var unet = UNet2DConditionModel.FromPretrained(Fixtures.Path(pipeline, "unet"));
        unet.train();
        var inputs = MakeInputs(unet, batch: 2, size: 16);
        var calls = CountBlockCalls(unet);
        int blocks = unet.named_modules().Count(m => m.module is ResnetBlock2D or BasicTransformerBlock);

        var plain = ForwardBackward(unet, inputs);
        Assert.Equal(blocks, calls());

        unet.GradientCheckpointing = true;
        var checkpointed = ForwardBackward(unet, inputs);
        // Every block but the mid block's first resnet (diffusers leaves it out) ran again in backward.
        Assert.Equal(blocks + blocks - 1, calls() - blocks);

        Assert.Equal(plain.Count, checkpointed.Count);
        double worst = 0;
        for (int i = 0; i < plain.Count; i++)
        {
            double diff = (plain[i] - checkpointed[i]).abs().max().item<float>();
            worst = Math.Max(worst, diff);
            Assert.True(diff <= 1e-6, $"tensor {i} (0 = output, 1 = sample grad, 2 = context grad, then parameters) differs by {diff:E2}");
        }
        output.WriteLine($"{pipeline}: {blocks} blocks, {plain.Count - 3} parameter gradients, max |diff| {worst:E2}");
    }

    [Fact]
    public void GradientCheckpointing_EvalModeOrNoGrad_HasNoEffect()
    {
        using var scope = NewDisposeScope();
        using var unet = UNet2DConditionModel.FromPretrained(Fixtures.Path("sd15-tiny", "unet"));
        var inputs = MakeInputs(unet, batch: 1, size: 8);
        var calls = CountBlockCalls(unet);
        int blocks = unet.named_modules().Count(m => m.module is ResnetBlock2D or BasicTransformerBlock);
        unet.GradientCheckpointing = true;
        Assert.True(unet.GradientCheckpointing);

        // Eval mode with grad: the plain graph (each block runs once, also in backward).
        unet.eval();
        var evalResult = ForwardBackward(unet, inputs);
        Assert.Equal(blocks, calls());

        // Training mode under no_grad: nothing to recompute.
        unet.train();
        Tensor noGradPred;
        using (no_grad()) noGradPred = unet.call(inputs.Sample, inputs.Timestep, inputs.Context, inputs.Added);
        Assert.Equal(2 * blocks, calls());
        Assert.False(noGradPred.requires_grad);
        Assert.Equal(0.0, (noGradPred - evalResult[0]).abs().max().item<float>());

        // Switching off again restores the plain path in training mode.
        unet.GradientCheckpointing = false;
        ForwardBackward(unet, inputs);
        Assert.Equal(3 * blocks, calls());
    }
}
