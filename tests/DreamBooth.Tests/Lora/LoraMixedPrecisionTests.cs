namespace DreamBooth.Tests.Lora;

using DreamBooth.IO;
using DreamBooth.Lora;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unets;
using DreamBooth.Tests.Training;
using DreamBooth.Torch;
using DreamBooth.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

/// <summary>
/// diffusers' LoRA DreamBooth with --mixed_precision fp16|bf16 keeps the frozen model in the half dtype and the LoRA
/// adapters in fp32, with autocast running the matmuls in half. TorchSharp has no autocast: the frozen layers simply
/// run in their half dtype, and each adapter casts its input to fp32 and its output back to the base output's dtype.
/// </summary>
// Checkpointing resets the default generator in backward and Checkpoint.Backward's failure slot is static: run alone.
[Collection(nameof(ProcessWideState))]
public sealed class LoraMixedPrecisionTests(ITestOutputHelper output)
{
    private const string Pipeline = "sd15-tiny";

    /// <summary>The fixture's DreamBooth step (lora_train.*: prior-preservation loss on a stored batch, the fixture
    /// adapter r=4, alpha=32) on a UNet of <paramref name="dtype"/> with fp32 adapters. Inputs are cast to the
    /// model dtype, the loss is computed in fp32 (train_dreambooth_lora.py: mse_loss(pred.float(), target.float())),
    /// and fp16 scales the loss like the trainer's GradScaler (unscaled fp16 gradients underflow through the half
    /// layers: about 30 % off on this model). Returns the unscaled adapter gradients, in named_parameters() order.</summary>
    private static List<(string Name, Tensor Grad)> Step(UNet2DConditionModel unet, SafeTensorsFile reference, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        unet.zero_grad();
        (Tensor, Tensor)? added = reference.Contains("dreambooth.text_embeds")
            ? (reference.Read("dreambooth.text_embeds").to(dtype), reference.Read("dreambooth.time_ids").to(dtype))
            : null;
        var pred = unet.call(reference.Read("dreambooth.noisy_latents").to(dtype), reference.Read("dreambooth.timesteps"),
                             reference.Read("dreambooth.encoder_hidden_states").to(dtype), added);
        Assert.Equal(dtype, pred.dtype);
        var (p, t) = (pred.to(ScalarType.Float32).chunk(2), reference.Read("dreambooth.target").chunk(2));
        var loss = nn.functional.mse_loss(p[0], t[0]) + 1.0 * nn.functional.mse_loss(p[1], t[1]);
        var scaler = new GradScaler(enabled: dtype == ScalarType.Float16);
        Checkpoint.Backward(scaler.ScaleLoss(loss));
        return [.. unet.named_parameters().Where(x => x.parameter.requires_grad)
                    .Select(x => (x.name, (x.parameter.grad! / scaler.Scale).MoveToOuterDisposeScope()))];
    }

    private static UNet2DConditionModel LoadWithAdapters(ScalarType dtype)
    {
        var unet = UNet2DConditionModel.FromPretrained(Fixtures.Path(Pipeline, "unet"), dtype: dtype);
        LoraInjector.Inject(unet, new LoraConfig { Rank = 4, Alpha = LoraFixture.Alpha, Dtype = ScalarType.Float32 });
        using (var file = SafeTensorsFile.Open(LoraFixture.DiffusersFile(Pipeline)))
            foreach (var (path, layer) in LoraModel.Layers(unet))
                layer.LoadAdapterWeights("default", file.Read($"unet.{path}.lora.down.weight"), file.Read($"unet.{path}.lora.up.weight"));
        unet.train();
        return unet;
    }

    /// <summary>‖actual − expected‖ / ‖expected‖ over all gradients together.</summary>
    private static double RelativeError(IReadOnlyList<(string Name, Tensor Grad)> actual, Func<string, Tensor> expected)
    {
        double diff = 0, norm = 0;
        foreach (var (name, grad) in actual)
        {
            var e = expected(name);
            diff += (grad - e).pow(2).sum().item<float>();
            norm += e.pow(2).sum().item<float>();
        }
        return Math.Sqrt(diff / norm);
    }

    // Bound: 8 unit roundoffs of the half dtype (bf16 2^-8, fp16 2^-11); both dtypes land near 3. A wrong cast, a frozen
    // adapter or a missing gradient path gives O(1) errors.
    [Theory]
    [InlineData(ScalarType.BFloat16, 8.0 / 256)]
    [InlineData(ScalarType.Float16, 8.0 / 2048)]
    public void HalfUNet_Float32Adapters_TrainsWithFloat32GradientsCloseToFloat32Step(ScalarType dtype, double tolerance)
    {
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path(Pipeline, "reference.safetensors"));
        using var unet = LoadWithAdapters(dtype);

        var adapters = LoraModel.AdapterParameters(unet);
        Assert.All(adapters, a => Assert.Equal(ScalarType.Float32, a.Parameter.dtype));
        Assert.All(unet.named_parameters().Where(x => !adapters.Any(a => a.Name == x.name)),
                   x => Assert.Equal(dtype, x.parameter.dtype));

        var grads = Step(unet, reference, dtype);
        Assert.Equal(adapters.Select(a => a.Name), grads.Select(g => g.Name));
        foreach (var (name, grad) in grads)
        {
            Assert.Equal(ScalarType.Float32, grad.dtype);
            Assert.True(grad.isfinite().all().item<bool>(), $"{name}: non-finite gradient");
            Assert.True(grad.abs().max().item<float>() > 0, $"{name}: zero gradient");
        }
        Assert.All(unet.named_parameters().Where(x => !adapters.Any(a => a.Name == x.name)), x => Assert.Null(x.parameter.grad));

        // The recorded diffusers fp32 step with the same adapter (lora_train.grad.*).
        double error = RelativeError(grads, name => reference.Read($"lora_train.grad.{name}"));
        output.WriteLine($"{Pipeline} {dtype} UNet + fp32 LoRA: {grads.Count} adapter gradients, relative error vs fp32 {error:E2} (bound {tolerance:E2})");
        Assert.True(error <= tolerance, $"{dtype}: relative gradient error {error:E2} > {tolerance:E2}");
    }

    // Checkpointing recomputes the same bf16 values, but a down-block output feeding the next resnet (norm1 and the
    // residual) and the up path's skip gets its three gradient terms summed as (a + b) + c instead of in the engine's
    // order: the down-path adapters then differ by bf16 summation rounding (fp32: ~1e-7 relative; the transformer
    // blocks alone, where the adapters sit, checkpoint bit-identically). Bound: one bf16 unit roundoff, 2^-8.
    [Fact]
    public void Bf16UNet_Float32Adapters_GradientCheckpointingGivesSameGradients()
    {
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path(Pipeline, "reference.safetensors"));
        using var unet = LoadWithAdapters(ScalarType.BFloat16);
        var plain = Step(unet, reference, ScalarType.BFloat16).ToDictionary(g => g.Name, g => g.Grad);
        unet.GradientCheckpointing = true;
        var checkpointed = Step(unet, reference, ScalarType.BFloat16);
        Assert.All(checkpointed, g => Assert.Equal(ScalarType.Float32, g.Grad.dtype));
        double error = RelativeError(checkpointed, name => plain[name]);
        output.WriteLine($"bf16 UNet + fp32 LoRA, checkpointed vs plain: relative gradient difference {error:E2}");
        Assert.True(error <= 1.0 / 256, $"checkpointed gradients differ by {error:E2} (relative)");
    }

    [Fact]
    public void Bf16TextEncoder_Float32Adapters_TrainsWithFloat32GradientsCloseToFloat32()
    {
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path(Pipeline, "reference.safetensors"));
        var ids = reference.Read("text_encoder.input_ids");
        var gen = new Generator(11);
        Tensor? target = null;
        List<(string Name, Tensor Grad)> Run(ScalarType dtype)
        {
            using var encoder = CLIPTextEncoder.FromPretrained(Fixtures.Path(Pipeline, "text_encoder"), dtype: dtype);
            var module = (nn.Module)encoder;
            manual_seed(0);   // same adapter init in both runs
            LoraInjector.Inject(module, new LoraConfig { TargetModules = ["q_proj", "k_proj", "v_proj", "out_proj"], Dtype = ScalarType.Float32 });
            using (no_grad())
                foreach (var (_, layer) in LoraModel.Layers(module)) layer.B("default").normal_(0, 0.05, generator: new Generator(3));
            module.train();
            var hidden = encoder.Encode(ids).LastHiddenState;
            Assert.Equal(dtype, hidden.dtype);
            target ??= randn(hidden.shape, generator: gen);
            Checkpoint.Backward(nn.functional.mse_loss(hidden.to(ScalarType.Float32), target));
            return [.. LoraModel.AdapterParameters(module).Select(p => (p.Name, p.Parameter.grad!.clone()))];
        }
        var expected = Run(ScalarType.Float32).ToDictionary(g => g.Name, g => g.Grad);
        var actual = Run(ScalarType.BFloat16);
        Assert.Equal(expected.Keys, actual.Select(a => a.Name));
        Assert.All(actual, a => Assert.Equal(ScalarType.Float32, a.Grad.dtype));
        double error = RelativeError(actual, name => expected[name]);
        output.WriteLine($"{Pipeline} bf16 text encoder + fp32 LoRA: {actual.Count} adapter gradients, relative error vs fp32 {error:E2}");
        Assert.True(error <= 8.0 / 256, $"relative gradient error {error:E2} > {8.0 / 256:E2}");
    }
}
