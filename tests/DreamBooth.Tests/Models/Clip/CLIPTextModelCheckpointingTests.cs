namespace DreamBooth.Tests.Models.Clip;

using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Tests.Training;
using DreamBooth.Torch;
using Xunit.Abstractions;
using static TorchSharp.torch;

// Checkpointing resets the default generator in backward and Checkpoint.Backward's failure slot is static: run alone.
[Collection(nameof(ProcessWideState))]
public sealed class CLIPTextModelCheckpointingTests(ITestOutputHelper output)
{
    /// <summary>Forward + backward of an MSE on every output in training mode; returns the outputs, then every
    /// parameter gradient (in parameters() order).</summary>
    private static List<Tensor> ForwardBackward(CLIPTextEncoderBase encoder, Tensor ids, int seed)
    {
        using var scope = NewDisposeScope();
        var module = (nn.Module)encoder;
        module.zero_grad();
        var result = encoder.Encode(ids);
        var outputs = new List<Tensor> { result.LastHiddenState, result.PooledOutput, result.PenultimateHiddenState };
        if (result.TextEmbeds is not null) outputs.Add(result.TextEmbeds);
        var gen = new Generator((ulong)seed);
        var loss = outputs.Select(o => nn.functional.mse_loss(o, randn(o.shape, generator: gen))).Aggregate((a, b) => a + b);
        Checkpoint.Backward(loss);
        var all = outputs.Select(o => o.detach()).Concat(module.parameters().Select(p => p.grad!)).ToList();
        Assert.All(all, Assert.NotNull);
        return [.. all.Select(t => t.clone().MoveToOuterDisposeScope())];
    }

    [Theory]
    [InlineData("sd15-tiny", "text_encoder")]
    [InlineData("sdxl-tiny", "text_encoder_2")]
    public void GradientCheckpointing_Training_MatchesPlainOutputsAndGradients(string pipeline, string component)
    {
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        using var encoder = CLIPTextEncoder.FromPretrained(Fixtures.Path(pipeline, component));
        var module = (nn.Module)encoder;
        module.train();
        var ids = reference.Read($"{component}.input_ids");
        int calls = 0, layers = encoder.Config.NumHiddenLayers;
        foreach (var (_, m) in module.named_modules())
            if (m is CLIPEncoderLayer layer) layer.register_forward_hook((_, _, _, o) => { calls++; return o; });

        var plain = ForwardBackward(encoder, ids, seed: 5);
        Assert.Equal(layers, calls);

        encoder.GradientCheckpointing = true;
        var checkpointed = ForwardBackward(encoder, ids, seed: 5);
        Assert.Equal(2 * layers, calls - layers);    // every layer ran again in backward

        double worst = 0;
        for (int i = 0; i < plain.Count; i++)
        {
            double diff = (plain[i] - checkpointed[i]).abs().max().item<float>();
            worst = Math.Max(worst, diff);
            Assert.True(diff <= 1e-6, $"tensor {i} (outputs first, then parameter gradients) differs by {diff:E2}");
        }
        output.WriteLine($"{pipeline}/{component}: {layers} layers, {plain.Count} tensors compared, max |diff| {worst:E2}");

        // Eval mode: the flag stays set but the plain path runs.
        module.eval();
        ForwardBackward(encoder, ids, seed: 5);
        Assert.Equal(4 * layers, calls);
    }
}
