namespace DreamBooth.Tests.Lora;

using DreamBooth.IO;
using DreamBooth.Models.Unets;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>Shared pieces of the LoRA parity tests: the fixture's UNet call and tolerance checks.</summary>
internal static class LoraFixture
{
    /// <summary>The in-memory adapter of the fixtures: LoraConfig(r=4, lora_alpha=32) ⇒ scale 8.</summary>
    public const double Alpha = 32;

    public static string DiffusersFile(string pipeline) => Fixtures.Path(pipeline, "lora", "pytorch_lora_weights.safetensors");

    public static string KohyaFile(string pipeline) => Fixtures.Path(pipeline, "lora", "kohya_lora.safetensors");

    public static UNet2DConditionModel LoadUnet(string pipeline) => UNet2DConditionModel.FromPretrained(Fixtures.Path(pipeline, "unet"));

    /// <summary>unet(unet.in.sample, unet.in.timestep, unet.in.encoder_hidden_states[, SDXL added cond]) without grad.</summary>
    public static Tensor RunUnet(UNet2DConditionModel unet, SafeTensorsFile reference)
    {
        using var noGrad = no_grad();
        (Tensor, Tensor)? added = reference.Contains("unet.in.text_embeds")
            ? (reference.Read("unet.in.text_embeds"), reference.Read("unet.in.time_ids"))
            : null;
        return unet.call(reference.Read("unet.in.sample"), reference.Read("unet.in.timestep"),
                         reference.Read("unet.in.encoder_hidden_states"), added);
    }

    /// <summary>max |actual − expected| ≤ tolerance.</summary>
    public static void AssertClose(ITestOutputHelper output, string label, Tensor expected, Tensor actual, double tolerance = 1e-4)
    {
        Assert.Equal(expected.shape, actual.shape);
        double maxAbs = (actual.detach() - expected).abs().max().item<float>();
        output.WriteLine($"{label}: max |diff| = {maxAbs:E2} (max |ref| = {expected.abs().max().item<float>():F3})");
        Assert.True(maxAbs <= tolerance, $"{label}: max |diff| {maxAbs:E3} > {tolerance:E0}");
    }

    /// <summary>max |actual − expected| ≤ tolerance × max |expected|.</summary>
    public static void AssertRelClose(ITestOutputHelper output, string label, Tensor expected, Tensor actual, double tolerance = 1e-4)
    {
        Assert.Equal(expected.shape, actual.shape);
        double maxAbs = (actual.detach() - expected).abs().max().item<float>();
        double scale = expected.abs().max().item<float>();
        output.WriteLine($"{label}: max |diff| = {maxAbs:E2}, relative {maxAbs / scale:E2}");
        Assert.True(maxAbs <= tolerance * scale, $"{label}: max |diff| {maxAbs:E3} > {tolerance:E0} × {scale:E3}");
    }
}
