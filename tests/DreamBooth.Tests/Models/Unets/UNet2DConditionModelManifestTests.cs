namespace DreamBooth.Tests.Models.Unets;

using System.Text.Json.Nodes;
using DreamBooth.Models.Unets;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>
/// Full-size SD 1.5 / 2.1 / XL UNets built on the meta device (shapes only, no memory: the SDXL UNet would be 10 GB in
/// float32) against the fixture manifests made by diffusers 0.27.2 from the same configs.
/// </summary>
public sealed class UNet2DConditionModelManifestTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("sd15", 859_520_964L)]
    [InlineData("sd21", 865_910_724L)]
    [InlineData("sdxl", 2_567_463_684L)]
    public void UNet2DConditionModel_FullSizeOnMeta_MatchesManifest(string model, long expectedParameters)
    {
        var config = UNet2DConditionConfig.Load(Fixtures.Path("manifests", model, "unet", "config.json"));
        var manifest = JsonNode.Parse(File.ReadAllText(Fixtures.Path("manifests", model, "unet", "manifest.json")))!;
        var expected = manifest["keys"]!.AsArray()
            .Select(k => (Name: (string)k!["name"]!, Shape: k["shape"]!.AsArray().Select(d => (long)d!).ToArray()))
            .ToList();

        using var unet = new UNet2DConditionModel(config, META);
        var parameters = unet.named_parameters().ToList();
        Assert.All(parameters, p => Assert.True(p.parameter.is_meta, $"{p.name} was allocated on {p.parameter.device}"));

        // Same names in the same order as PyTorch's named_parameters() (the manifest lists state_dict() order, and the
        // UNet has no buffers), and the same shapes.
        Assert.Equal(expected.Select(e => e.Name), parameters.Select(p => p.name));
        Assert.Equal(expected.Count, unet.state_dict().Count);
        foreach (var ((name, shape), (_, p)) in expected.Zip(parameters))
            Assert.True(shape.SequenceEqual(p.shape), $"{name}: manifest [{string.Join(",", shape)}], model [{string.Join(",", p.shape)}]");

        Assert.Equal(expectedParameters, (long)manifest["num_parameters"]!);
        Assert.Equal(expectedParameters, unet.ParameterCount());
        output.WriteLine($"{model}: {parameters.Count} tensors, {unet.ParameterCount():N0} parameters, all on meta");
    }

    [Theory]
    [MemberData(nameof(UNet2DConditionModelParityTests.Pipelines), MemberType = typeof(UNet2DConditionModelParityTests))]
    public void UNet2DConditionModel_TinyFixture_ParameterOrderMatchesDiffusers(string pipeline)
    {
        var reference = JsonNode.Parse(File.ReadAllText(Fixtures.Path(pipeline, "reference.json")))!;
        var names = reference["sections"]!["dreambooth"]!["all_param_names"]!.AsArray().Select(n => (string)n!);
        var config = UNet2DConditionConfig.Load(Fixtures.Path(pipeline, "unet", "config.json"));
        using var unet = new UNet2DConditionModel(config, META);
        Assert.Equal(names, unet.named_parameters().Select(p => p.name));
    }
}
