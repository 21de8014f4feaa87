namespace DreamBooth.Tests.Loaders;

using DreamBooth.IO;
using DreamBooth.Loaders;
using DreamBooth.Loading;
using DreamBooth.Models.Autoencoders;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unets;
using static TorchSharp.torch;

/// <summary>sd15-tiny's weights written in LDM/A1111 single-file naming load and compute exactly what the folder does.</summary>
public sealed class SingleFileCheckpointTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("single-file").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private static Dictionary<string, Tensor> ReadAll(string componentDir, string baseName)
    {
        using var source = TensorSource.Open(WeightFiles.Find(componentDir, baseName));
        return source.Keys.ToDictionary(k => k, source.Read);
    }

    private string WriteSingleFile(bool withExtras)
    {
        var folder = Fixtures.Path("sd15-tiny");
        var unetConfig = UNet2DConditionConfig.Load(Path.Combine(folder, "unet", "config.json"));
        var vaeConfig = AutoencoderKLConfig.Load(Path.Combine(folder, "vae", "config.json"));
        var text = ReadAll(Path.Combine(folder, "text_encoder"), "model");
        if (withExtras) text["text_model.embeddings.position_ids"] = arange(77, dtype: ScalarType.Int64).unsqueeze(0);
        var path = Path.Combine(dir, "sd15-tiny.safetensors");
        SingleFileCheckpoint.Write(path, ReadAll(Path.Combine(folder, "unet"), "diffusion_pytorch_model"), SingleFileCheckpoint.Layout(unetConfig),
            ReadAll(Path.Combine(folder, "vae"), "diffusion_pytorch_model"), vaeConfig.UpBlockTypes.Count, text);
        if (withExtras)
        {
            // Real checkpoints also carry LDM schedule buffers and EMA weights that no diffusers model has.
            using var f = TensorSource.Open(path);
            var all = f.Keys.ToDictionary(k => k, f.Read);
            all["alphas_cumprod"] = ones(1000);
            all["model_ema.decay"] = tensor(0.9999f);
            f.Dispose();
            SafeTensorsWriter.Write(path, all);
        }
        return path;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SingleFile_Sd15Tiny_SameOutputsAsFolder(bool withExtras)
    {
        var folder = Fixtures.Path("sd15-tiny");
        var path = WriteSingleFile(withExtras);
        using var file = TensorSource.Open(path);
        Assert.True(SingleFileCheckpoint.IsSingleFile(file));
        manual_seed(3);

        using (var expected = UNet2DConditionModel.FromPretrained(Path.Combine(folder, "unet")))
        using (var actual = SingleFileCheckpoint.LoadUnet(file, UNet2DConditionConfig.Load(Path.Combine(folder, "unet", "config.json"))))
        using (no_grad())
        {
            var x = randn(1, 4, 16, 16);
            var t = tensor(new long[] { 500 });
            var ctx = randn(1, 77, 32);
            Assert.Equal(0.0, (expected.forward(x, t, ctx, null) - actual.forward(x, t, ctx, null)).abs().max().item<float>());
        }

        using (var expected = AutoencoderKL.FromPretrained(Path.Combine(folder, "vae")))
        using (var actual = SingleFileCheckpoint.LoadVae(file, AutoencoderKLConfig.Load(Path.Combine(folder, "vae", "config.json"))))
        using (no_grad())
        {
            var z = randn(1, 4, 8, 8);
            Assert.Equal(0.0, (expected.Decode(z) - actual.Decode(z)).abs().max().item<float>());
            var img = rand(1, 3, 16, 16) * 2 - 1;
            using var a = expected.Encode(img);
            using var b = actual.Encode(img);
            Assert.Equal(0.0, (a.Mean - b.Mean).abs().max().item<float>());
        }

        using (var expected = CLIPTextEncoder.FromPretrained(Path.Combine(folder, "text_encoder")))
        using (var actual = SingleFileCheckpoint.LoadTextEncoder(file, CLIPTextConfig.Load(Path.Combine(folder, "text_encoder", "config.json"))))
        using (no_grad())
        {
            var ids = randint(0, 49408, [2, 77], dtype: ScalarType.Int64);
            using var a = expected.Encode(ids);
            using var b = actual.Encode(ids);
            Assert.Equal(0.0, (a.LastHiddenState - b.LastHiddenState).abs().max().item<float>());
        }
    }

    [Fact]
    public void SingleFile_MissingUnetTensor_NamesIt()
    {
        var path = WriteSingleFile(false);
        using (var f = TensorSource.Open(path))
        {
            var all = f.Keys.Where(k => k != "model.diffusion_model.out.2.weight").ToDictionary(k => k, f.Read);
            f.Dispose();
            SafeTensorsWriter.Write(path, all);
        }
        using var file = TensorSource.Open(path);
        var e = Assert.Throws<DreamBoothException>(() =>
            SingleFileCheckpoint.LoadUnet(file, UNet2DConditionConfig.Load(Fixtures.Path("sd15-tiny", "unet", "config.json"))));
        Assert.Contains("conv_out.weight", e.Message);
    }
}
