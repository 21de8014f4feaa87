namespace DreamBooth.Tests.ToyWorld;

using DreamBooth.Loading;
using DreamBooth.Models.Autoencoders;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unets;
using DreamBooth.Pipelines;
using DreamBooth.ToyWorld;

/// <summary>Pretraining of the toy base model at smoke-test size: a loadable diffusers folder, deterministic for a seed.</summary>
public sealed class ToyPretrainerTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("toy-pretrain").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private static ToyPretrainOptions Smoke(string output, int seed = 0) => new()
    {
        OutputDir = output, Steps = 3, VaeSteps = 3, BatchSize = 4, WarmupSteps = 1, Seed = seed, Model = ToyModelConfig.Tiny,
    };

    [Fact]
    public void FewSteps_WritesAFolderThePipelineLoaderLoadsAndGeneratesFrom()
    {
        var result = new ToyPretrainer(Smoke(dir)).Run();
        Assert.True(double.IsFinite(result.VaeLoss) && double.IsFinite(result.UnetLoss));
        Assert.True(result.ScalingFactor > 0);
        Assert.True(result.SceneReconstructionError > 0 && result.SubjectReconstructionError > 0);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(dir, ToyPretrainer.LogFile)).Length);
        using var pipe = PipelineLoader.Load(dir);
        Assert.Equal(2, pipe.VaeScaleFactor);
        Assert.Equal(32, pipe.DefaultSize);
        Assert.Equal(result.ScalingFactor, pipe.Vae.ScalingFactor);
        Assert.Equal(49408, pipe.Tokenizer.VocabSize);
        using var image = pipe.Generate(new GenerationRequest { Prompt = "a photo of a red ball on a blue background", Steps = 2, Seed = 1 });
        Assert.Equal([1L, 3, 32, 32], image.Images.shape);
    }

    [Fact]
    public void SameSeed_SameWeights_OtherSeedDiffers()
    {
        byte[] Unet(string sub, int seed)
        {
            new ToyPretrainer(Smoke(Path.Combine(dir, sub), seed)).Run();
            return File.ReadAllBytes(Path.Combine(dir, sub, "unet", "diffusion_pytorch_model.safetensors"));
        }
        var a = Unet("a", 5);
        Assert.Equal(a, Unet("b", 5));
        Assert.NotEqual(a, Unet("c", 6));
    }

    [Fact]
    public void DefaultConfig_IsASmallSdModel()
    {
        var config = new ToyModelConfig();
        var unetConfig = UNet2DConditionConfig.FromConfig(ConfigFile.Parse("unet/config.json", config.UnetJson().ToJsonString()));
        using var unet = new UNet2DConditionModel(unetConfig, TorchSharp.torch.META);
        Assert.InRange(unet.ParameterCount(), 700_000, 1_500_000);
        Assert.Equal(config.TextHiddenSize, unetConfig.CrossAttentionDim[0]);
        Assert.Equal(16, unetConfig.SampleSize);
        var vae = AutoencoderKLConfig.From(ConfigFile.Parse("vae/config.json", config.VaeJson(0.5).ToJsonString()));
        Assert.Equal(2, vae.DownsampleFactor);
        Assert.Equal(0.5, vae.ScalingFactor);
        var text = CLIPTextConfig.From(ConfigFile.Parse("text_encoder/config.json", config.TextEncoderJson().ToJsonString()));
        Assert.Equal(2, text.NumHiddenLayers);
        // The budget for a base model kept in the repository: ≤ 20 MB of safetensors, stored as float16.
        using var textEncoder = new CLIPTextModel(text, TorchSharp.torch.META);
        using var autoencoder = new AutoencoderKL(vae);
        long total = unet.ParameterCount() + textEncoder.ParameterCount + StateDictLoader.ParameterCount(autoencoder);
        Assert.True(total * 2 < 20_000_000, $"{total} parameters");
    }

    [Fact]
    public void Checkpoint_IsALoadableFolderBeforeTheRunEnds()
    {
        using var cancel = new CancellationTokenSource();
        var saved = new List<string>();
        var progress = new SyncProgress<ToyPretrainProgress>(p =>
        {
            if (!p.Phase.StartsWith("saving", StringComparison.Ordinal)) return;
            saved.Add(p.Phase);
            cancel.Cancel();                          // stop right after the first checkpoint, as a killed run would
        });
        Assert.ThrowsAny<OperationCanceledException>(() =>
            new ToyPretrainer(Smoke(dir) with { Steps = 5, CheckpointEvery = 2 }).Run(progress, cancel.Token));
        Assert.Equal(["saving step 2"], saved);
        using var pipe = PipelineLoader.Load(dir);
        Assert.Equal(32, pipe.DefaultSize);
    }

    [Fact]
    public void ContinueFrom_LoadsTheWeightsAndTrainsOn()
    {
        var first = Path.Combine(dir, "first");
        var result = new ToyPretrainer(Smoke(first)).Run();
        var next = Path.Combine(dir, "next");
        var continued = new ToyPretrainer(Smoke(next) with { Steps = 2, ContinueFrom = first }).Run();
        Assert.Equal(result.ScalingFactor, continued.ScalingFactor);
        Assert.False(File.Exists(Path.Combine(next, ToyPretrainer.VaeLogFile)));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(next, ToyPretrainer.LogFile)).Length);
        static byte[] Weights(string d, string c) => File.ReadAllBytes(Directory.GetFiles(Path.Combine(d, c), "*.safetensors").Single());
        Assert.Equal(Weights(first, "vae"), Weights(next, "vae"));           // frozen in the text-to-image phase
        Assert.NotEqual(Weights(first, "unet"), Weights(next, "unet"));
        // A model of another size cannot be continued.
        var ex = Assert.Throws<DreamBoothException>(() =>
            new ToyPretrainer(Smoke(Path.Combine(dir, "other")) with { ContinueFrom = first, Model = new ToyModelConfig() }).Run());
        Assert.Contains("another size", ex.Message);
    }

    [Fact]
    public void InvalidOptions_AreRefused()
    {
        Assert.Throws<DreamBoothException>(() => new ToyPretrainer(Smoke(dir) with { Steps = 0 }).Run());
        Assert.Throws<DreamBoothException>(() => new ToyPretrainer(Smoke(dir) with { CaptionDropout = 1 }).Run());
        Assert.Throws<DreamBoothException>(() => new ToyPretrainer(Smoke(dir) with { SnrGamma = 0 }).Run());
        Assert.Throws<DreamBoothException>(() => new ToyPretrainer(Smoke(dir) with { ContinueFrom = dir }).Run());
        Assert.Throws<DreamBoothException>(() => new ToyPretrainer(Smoke(dir) with { Model = ToyModelConfig.Tiny with { ImageSize = 48 } }).Run());
    }
}
