namespace DreamBooth.Tests.Evaluation;

using System.Text.Json;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Vit;
using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>Full-size openai/clip-vit-base-patch32 and facebook/dino-vits16 built on the meta device against transformers' key manifests.</summary>
[Collection(MetaDeviceCollection.Name)]
public sealed class EvalManifestTests
{
    [Fact]
    public void CLIPModel_FullSizeConfigOnMeta_MatchesManifest()
    {
        TorchRuntime.EnsureLoaded();
        var dir = Fixtures.Path("eval", "manifests", "clip-vit-base-patch32");
        var config = CLIPConfig.Load(Path.Combine(dir, "config.json"));
        Assert.Equal((2, 512, 768, 32), (config.Text.EosTokenId, config.ProjectionDim, config.Vision.HiddenSize, config.Vision.PatchSize));
        using var model = MetaDevice.Build(() => new CLIPModel(config, META));
        AssertMatches(dir, model, model.ParameterCount);
    }

    [Fact]
    public void ViTModel_FullSizeConfigOnMeta_MatchesManifest()
    {
        TorchRuntime.EnsureLoaded();
        var dir = Fixtures.Path("eval", "manifests", "dino-vits16");
        var config = ViTConfig.Load(Path.Combine(dir, "config.json"));
        using var model = MetaDevice.Build(() => new ViTModel(config, META));
        AssertMatches(dir, model, model.ParameterCount);
    }

    private static void AssertMatches(string dir, nn.Module model, long parameterCount)
    {
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")));
        var root = manifest.RootElement;
        var expected = root.GetProperty("keys").EnumerateArray()
            .Select(k => $"{k.GetProperty("name").GetString()} [{string.Join(",", k.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()))}]")
            .ToList();
        Assert.Equal(root.GetProperty("class").GetString(), model.GetType().Name);
        Assert.All(model.parameters(), p => Assert.Equal(DeviceType.META, p.device_type));
        var actual = model.state_dict().Select(kv => $"{kv.Key} [{string.Join(",", kv.Value.shape)}]").ToList();
        Assert.Equal(expected, actual);   // keys, shapes and order of transformers' state_dict()
        Assert.Equal(root.GetProperty("num_parameters").GetInt64(), parameterCount);
        Assert.Equal(root.GetProperty("num_state_dict_keys").GetInt32(), actual.Count);
    }
}
