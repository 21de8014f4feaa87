namespace DreamBooth.Tests.Models.Unets;

using DreamBooth.IO;
using DreamBooth.Loading;
using DreamBooth.Models;
using DreamBooth.Models.Unets;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>Every unet.* tensor of the fixtures' reference.safetensors, reproduced from the saved unet/ folders.</summary>
public sealed class UNet2DConditionModelParityTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    public static TheoryData<string> Pipelines => new(Fixtures.Pipelines);

    [Theory]
    [MemberData(nameof(Pipelines))]
    public void UNet2DConditionModel_FixtureInputs_MatchReferenceOutputs(string pipeline)
    {
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        using var unet = UNet2DConditionModel.FromPretrained(Fixtures.Path(pipeline, "unet"));
        using var noGrad = no_grad();

        var sample = reference.Read("unet.in.sample");
        var context = reference.Read("unet.in.encoder_hidden_states");
        (Tensor, Tensor)? added = reference.Contains("unet.in.text_embeds")
            ? (reference.Read("unet.in.text_embeds"), reference.Read("unet.in.time_ids"))
            : null;
        Assert.Equal(pipeline == "sdxl-tiny", added is not null);

        AssertClose(pipeline, "unet.out", reference, unet.call(sample, reference.Read("unet.in.timestep"), context, added));
        AssertClose(pipeline, "unet.out_float_scalar_t", reference,
                    unet.call(sample, reference.Read("unet.in.timestep_float_scalar"), context, added));
    }

    [Theory]
    [MemberData(nameof(Pipelines))]
    public void UNet2DConditionModel_DebugIntermediates_MatchReference(string pipeline)
    {
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        var config = UNet2DConditionConfig.Load(Fixtures.Path(pipeline, "unet", "config.json"));
        using var weights = TensorSource.Open(WeightFiles.Find(Fixtures.Path(pipeline, "unet"), "diffusion_pytorch_model"));
        using var noGrad = no_grad();
        long c0 = config.BlockOutChannels[0];

        using var timeProj = new Timesteps(c0, config.FlipSinToCos, config.FreqShift);
        var features = timeProj.call(reference.Read("unet.in.timestep"));
        AssertClose(pipeline, "unet.debug.time_proj", reference, features);

        using var timeEmbedding = new TimestepEmbedding(c0, config.TimeEmbedDim);
        StateDictLoader.Load(timeEmbedding, weights.WithPrefix("time_embedding."), "time_embedding");
        AssertClose(pipeline, "unet.debug.time_embedding", reference, timeEmbedding.call(features));

        using var convIn = nn.Conv2d(config.InChannels, c0, kernel_size: 3, padding: 1);
        StateDictLoader.Load(convIn, weights.WithPrefix("conv_in."), "conv_in");
        AssertClose(pipeline, "unet.debug.conv_in", reference, convIn.call(reference.Read("unet.in.sample")));
    }

    [Fact]
    public void UNet2DConditionModel_DoubleTimestep_EqualsTensorTimestep()
    {
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path("sd15-tiny", "reference.safetensors"));
        using var unet = UNet2DConditionModel.FromPretrained(Fixtures.Path("sd15-tiny", "unet"));
        using var noGrad = no_grad();
        var sample = reference.Read("unet.in.sample");
        var context = reference.Read("unet.in.encoder_hidden_states");
        var fromDouble = unet.forward(sample, 665.6666870117188, context);
        AssertClose("sd15-tiny", "unet.out_float_scalar_t", reference, fromDouble);
    }

    private void AssertClose(string pipeline, string name, SafeTensorsFile reference, Tensor actual)
    {
        var expected = reference.Read(name);
        Assert.Equal(expected.shape, actual.shape);
        double maxAbs = (actual - expected).abs().max().item<float>();
        output.WriteLine($"{pipeline} {name}: max |diff| = {maxAbs:E2} (max |ref| = {expected.abs().max().item<float>():F3})");
        Assert.True(maxAbs <= Tolerance, $"{pipeline} {name}: max |diff| {maxAbs:E3} > {Tolerance:E0}");
    }
}
