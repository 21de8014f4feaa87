namespace DreamBooth.Tests.Models.Unets;

using DreamBooth.IO;
using DreamBooth.Models.Unets;
using Xunit.Abstractions;
using static TorchSharp.torch;

public sealed class UNet2DConditionModelRuntimeTests(ITestOutputHelper output)
{
    [Fact]
    public void UNet2DConditionModel_Bf16_StaysCloseToFloat32()
    {
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path("sd15-tiny", "reference.safetensors"));
        using var fp32 = UNet2DConditionModel.FromPretrained(Fixtures.Path("sd15-tiny", "unet"));
        using var bf16 = UNet2DConditionModel.FromPretrained(Fixtures.Path("sd15-tiny", "unet"), dtype: ScalarType.BFloat16);
        Assert.All(bf16.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        using var noGrad = no_grad();

        var sample = reference.Read("unet.in.sample");
        var timestep = reference.Read("unet.in.timestep");
        var context = reference.Read("unet.in.encoder_hidden_states");
        var expected = fp32.call(sample, timestep, context, null);
        var actual = bf16.call(sample.to(ScalarType.BFloat16), timestep, context.to(ScalarType.BFloat16), null);

        Assert.Equal(ScalarType.BFloat16, actual.dtype);
        var diff = (actual.to(ScalarType.Float32) - expected).abs();
        double maxDiff = diff.max().item<float>(), meanDiff = diff.mean().item<float>();
        double scale = expected.abs().max().item<float>();
        output.WriteLine($"sd15-tiny bf16 vs fp32: max |diff| = {maxDiff:E2}, mean |diff| = {meanDiff:E2}, max |fp32| = {scale:F3}");
        Assert.True(actual.isfinite().all().item<bool>(), "bf16 output has non-finite values");
        // bf16 keeps 8 mantissa bits (~0.4 % per rounding); a few percent of the output range after ~30 layers is normal,
        // a wrong kernel or a dtype mix-up gives O(1) errors.
        Assert.True(maxDiff < 0.05 * scale, $"bf16 deviates {maxDiff:E2} from fp32 (range {scale:F3})");
    }

    [Theory]
    [InlineData(10, 14)]   // 10 → 5 → 3 and 14 → 7 → 4: plain ×2 upsampling would give 6 and 8, not the skips' 5 and 7
    [InlineData(9, 16)]
    [InlineData(12, 20)]   // divisible by the UNet's total stride of 4: the ordinary path
    public void UNet2DConditionModel_AnyLatentSize_ReturnsInputSize(int height, int width)
    {
        using var scope = NewDisposeScope();
        using var unet = UNet2DConditionModel.FromPretrained(Fixtures.Path("sd15-tiny", "unet"));
        using var noGrad = no_grad();
        var sample = randn(1, 4, height, width, generator: new TorchSharp.torch.Generator(7));
        var context = randn(1, 77, 32, generator: new TorchSharp.torch.Generator(8));
        var result = unet.call(sample, tensor(500L), context, null);
        Assert.Equal([1L, 4, height, width], result.shape);
        Assert.True(result.isfinite().all().item<bool>());
    }

    [Fact]
    public void UNet2DConditionModel_SdxlWithoutAddedConditioning_Throws()
    {
        using var scope = NewDisposeScope();
        using var unet = UNet2DConditionModel.FromPretrained(Fixtures.Path("sdxl-tiny", "unet"));
        using var noGrad = no_grad();
        var e = Assert.Throws<ArgumentException>(() => unet.call(zeros(1, 4, 8, 8), tensor(1L), zeros(1, 77, 64), null));
        Assert.Contains("text_time", e.Message);
    }

    [Fact]
    public void UNet2DConditionModel_PerSampleAndBroadcastTimesteps_Agree()
    {
        using var scope = NewDisposeScope();
        using var unet = UNet2DConditionModel.FromPretrained(Fixtures.Path("sd2-tiny-v", "unet"));
        using var noGrad = no_grad();
        var sample = randn(2, 4, 8, 8, generator: new TorchSharp.torch.Generator(1));
        var context = randn(2, 77, 32, generator: new TorchSharp.torch.Generator(2));
        var scalar = unet.call(sample, tensor(333L), context, null);
        var perSample = unet.call(sample, tensor(new long[] { 333, 333 }), context, null);
        var single = unet.call(sample, tensor(new float[] { 333f }), context, null);
        Assert.Equal(0f, (scalar - perSample).abs().max().item<float>());
        Assert.Equal(0f, (scalar - single).abs().max().item<float>());
    }
}
