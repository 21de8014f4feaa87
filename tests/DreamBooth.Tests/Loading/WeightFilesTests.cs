namespace DreamBooth.Tests.Loading;

using System.Text.Json;
using DreamBooth.IO;
using DreamBooth.Loaders;
using DreamBooth.Loading;
using DreamBooth.Models.Unets;
using DreamBooth.Pipelines;
using static TorchSharp.torch;

public sealed class WeightFilesTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("weights").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private string UnetCopy()
    {
        var unet = Path.Combine(dir, "unet");
        Directory.CreateDirectory(unet);
        File.Copy(Fixtures.Path("sd15-tiny", "unet", "config.json"), Path.Combine(unet, "config.json"));
        return unet;
    }

    [Theory]
    [InlineData(null, "diffusion_pytorch_model.safetensors.index.json")]
    [InlineData("fp16", "diffusion_pytorch_model.safetensors.index.fp16.json")]
    public void Find_ShardedWeights_LoadLikeTheSingleFile(string? variant, string indexName)
    {
        var unet = UnetCopy();
        using var source = TensorSource.Open(Fixtures.Path("sd15-tiny", "unet", "diffusion_pytorch_model.safetensors"));
        var keys = source.Keys.Order(StringComparer.Ordinal).ToList();
        var map = new Dictionary<string, string>();
        for (int shard = 0; shard < 2; shard++)
        {
            var name = $"diffusion_pytorch_model-0000{shard + 1}-of-00002.safetensors";
            var part = keys.Where((_, i) => i % 2 == shard).ToDictionary(k => k, source.Read);
            SafeTensorsWriter.Write(Path.Combine(unet, name), part);
            foreach (var k in part.Keys) map[k] = name;
        }
        File.WriteAllText(Path.Combine(unet, indexName), JsonSerializer.Serialize(new { metadata = new { total_size = 0 }, weight_map = map }));
        Assert.Equal(2, WeightFiles.Find(unet, "diffusion_pytorch_model", variant).Length);

        using var sharded = UNet2DConditionModel.FromPretrained(unet, variant: variant);
        using var plain = UNet2DConditionModel.FromPretrained(Fixtures.Path("sd15-tiny", "unet"));
        foreach (var (name, p) in plain.state_dict())
            Assert.True(p.equal(sharded.state_dict()[name]).all().item<bool>(), name);
    }

    [Fact]
    public void Find_PickleOnly_RefusedWithReasonAndConversionHint()
    {
        var unet = UnetCopy();
        File.WriteAllBytes(Path.Combine(unet, "diffusion_pytorch_model.bin"), [0x80, 0x02]);
        var e = Assert.Throws<DreamBoothException>(() => WeightFiles.Find(unet, "diffusion_pytorch_model"));
        Assert.Contains("can run arbitrary code", e.Message);
        Assert.Contains("safetensors", e.Message);
    }

    [Fact]
    public void Find_VariantMissing_FallsBackToPlainWeights()
    {
        var files = WeightFiles.Find(Fixtures.Path("sd15-tiny", "unet"), "diffusion_pytorch_model", "fp16");
        Assert.EndsWith("diffusion_pytorch_model.safetensors", files.Single());
    }

    [Fact]
    public void Config_MissingRequiredKey_NamesFileAndKey()
    {
        var path = Path.Combine(dir, "model_index.json");
        File.WriteAllText(path, """{ "unet": ["diffusers", "UNet2DConditionModel"] }""");
        var e = Assert.Throws<DreamBoothException>(() => ModelIndex.Load(dir));
        Assert.Contains("model_index.json", e.Message);
        Assert.Contains("'_class_name'", e.Message);
    }

    [Fact]
    public void PipelineLoader_SingleFileWithModelConfig_GeneratesTheSameImageAsTheFolder()
    {
        var folder = Fixtures.Path("sd15-tiny");
        static Dictionary<string, Tensor> All(string componentDir, string baseName)
        {
            using var s = TensorSource.Open(WeightFiles.Find(componentDir, baseName));
            return s.Keys.ToDictionary(k => k, s.Read);
        }
        var unetConfig = UNet2DConditionConfig.Load(Path.Combine(folder, "unet", "config.json"));
        var file = Path.Combine(dir, "sd15-tiny.safetensors");
        SingleFileCheckpoint.Write(file, All(Path.Combine(folder, "unet"), "diffusion_pytorch_model"), SingleFileCheckpoint.Layout(unetConfig),
            All(Path.Combine(folder, "vae"), "diffusion_pytorch_model"), 2, All(Path.Combine(folder, "text_encoder"), "model"));

        var request = new GenerationRequest { Prompt = "a photo of sks dog", Steps = 3, Seed = 5 };
        using var fromFolder = PipelineLoader.Load(folder);
        using var fromFile = PipelineLoader.Load(file, new PipelineLoadOptions { ModelConfigDir = folder });
        using var a = fromFolder.Generate(request);
        using var b = fromFile.Generate(request);
        Assert.True(a.Images.equal(b.Images).all().item<bool>());

        // Without --model-config the SD 1.5 configs apply: the tiny weights do not fit them, and the error says which keys.
        var e = Assert.Throws<DreamBoothException>(() => PipelineLoader.Load(file));
        Assert.Contains("do not match the model", e.Message);
    }
}
