namespace DreamBooth.ToyWorld;

using System.Diagnostics;
using System.Text.Json.Nodes;
using DreamBooth.Imaging;
using DreamBooth.IO;
using DreamBooth.Loading;
using DreamBooth.Models.Autoencoders;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unets;
using DreamBooth.Schedulers;
using DreamBooth.Torch;
using DreamBooth.Training;
using static TorchSharp.torch;

/// <summary>
/// Pretrains the toy base model from a fresh initialisation with the project's own training code, in two phases:
/// (1) the VAE as an autoencoder of toy images; (2) text-to-image training of the UNet and the text encoder together
/// on per-image captions (kohya's fine-tuning mode, from scratch): DDPM noise at uniform timesteps, epsilon MSE
/// (<see cref="TrainingStep"/>), AdamW with warm-up and cosine decay, captions dropped to "" at
/// <see cref="ToyPretrainOptions.CaptionDropout"/> for classifier-free guidance. Writes a diffusers folder that
/// <see cref="Pipelines.PipelineLoader"/> loads like any SD 1.x model. Deterministic for a seed on one machine.
/// </summary>
public sealed class ToyPretrainer(ToyPretrainOptions options)
{
    public const string VaeLogFile = "vae_log.jsonl";
    public const string LogFile = "train_log.jsonl";
    public const string AutoencoderImage = "autoencoder.png";

    public ToyPretrainResult Run(IProgress<ToyPretrainProgress>? progress = null, CancellationToken cancel = default)
    {
        var o = options.Validated();
        var m = o.Model;
        TorchRuntime.EnsureLoaded();
        Directory.CreateDirectory(o.OutputDir);
        var clock = Stopwatch.StartNew();
        using var generator = Rng.CpuGenerator((ulong)o.Seed);

        // Built from the same config.json text that is saved, so the folder loads into exactly these modules.
        using var vae = new AutoencoderKL(AutoencoderKLConfig.From(Parse("vae", m.VaeJson(1.0))));
        using var unet = new UNet2DConditionModel(UNet2DConditionConfig.FromConfig(Parse("unet", m.UnetJson())));
        using var textEncoder = new CLIPTextModel(CLIPTextConfig.From(Parse("text_encoder", m.TextEncoderJson())));
        var tokenizer = CLIPTokenizer.FromFolder(ToyModelWriter.TokenizerFolder());
        var batches = new ToyBatches(new ToySceneSampler(o.Seed), m.ImageSize);

        double vaeLoss, scaling;
        if (o.ContinueFrom is { } from)
        {
            // The folder's weights replace a fresh initialisation; the generator still starts from the seed.
            scaling = LoadSaved(from, m, vae, unet, textEncoder);
            vaeLoss = double.NaN;
        }
        else
        {
            FreshInit.Apply(vae, generator);
            FreshInit.Apply(unet, generator);
            FreshInit.Apply(textEncoder, generator);
            using (var vaeLog = new TrainingLog(FreshFile(o.OutputDir, VaeLogFile)))
                vaeLoss = ToyAutoencoderTraining.Train(vae, batches, o, generator, vaeLog, progress, cancel);
            scaling = ToyAutoencoderTraining.MeasureScalingFactor(vae, batches, generator);
        }
        foreach (var p in vae.parameters()) p.requires_grad = false;
        var scenes = new ToySceneSampler(o.Seed + 1).Samples(64, m.ImageSize).Select(s => s.Image).ToList();
        var subjects = new ToySubject().InstanceImages(ToyPalette.BackgroundColors.Count, o.Seed, m.ImageSize).Select(s => s.Image).ToList();
        var (sceneError, sceneDecoded) = ToyAutoencoderTraining.Reconstruction(vae, scenes);
        var (subjectError, subjectDecoded) = ToyAutoencoderTraining.Reconstruction(vae, subjects);
        // To be looked at, not only measured: the subject's renders over their reconstructions, then five scenes'.
        int n = subjects.Count;
        PngWriter.Write(Path.Combine(o.OutputDir, AutoencoderImage),
                        ImageGrid.Make([.. subjects, .. subjectDecoded, .. scenes.Take(n), .. sceneDecoded.Take(n)], 4, n));
        progress?.Report(new ToyPretrainProgress($"autoencoder reconstruction MSE: scenes {sceneError:0.0000}, subject {subjectError:0.0000}", 0, 0, double.NaN, 0));

        void Save(int step)
        {
            progress?.Report(new ToyPretrainProgress($"saving step {step}", step, o.Steps, double.NaN, 0));
            ToyModelWriter.Write(o.OutputDir, m, scaling, textEncoder, unet, vae);
        }

        double unetLoss;
        using (var log = new TrainingLog(FreshFile(o.OutputDir, LogFile)))
            unetLoss = TrainTextToImage(unet, textEncoder, vae, tokenizer, batches, scaling, o, generator, log, Save, progress, cancel);
        TrainingLog.PlotLoss(Path.Combine(o.OutputDir, LogFile), Path.Combine(o.OutputDir, "loss.png"));

        Save(o.Steps);
        long parameters = new[] { (nn.Module)vae, unet, textEncoder }.Sum(StateDictLoader.ParameterCount);
        return new ToyPretrainResult(o.OutputDir, vaeLoss, unetLoss, scaling, parameters, clock.Elapsed, sceneError, subjectError);
    }

    private static double TrainTextToImage(UNet2DConditionModel unet, CLIPTextModel textEncoder, AutoencoderKL vae, CLIPTokenizer tokenizer,
                                           ToyBatches batches, double scaling, ToyPretrainOptions o, Generator generator, TrainingLog log,
                                           Action<int> save, IProgress<ToyPretrainProgress>? progress, CancellationToken cancel)
    {
        unet.train();
        textEncoder.train();
        var trainable = unet.named_parameters().Select(p => ("unet." + p.name, p.parameter))
            .Concat(textEncoder.named_parameters().Select(p => ("text_encoder." + p.name, p.parameter))).ToList();
        using var optimizer = new AdamW(trainable, new AdamWOptions(o.LearningRate).Validated());
        var schedule = new LrSchedule("cosine", o.WarmupSteps, o.Steps, learningRate: o.LearningRate);
        var noiseScheduler = (ITrainingNoiseScheduler)SchedulerRegistry.Create("DDPMScheduler",
            SchedulerConfig.Parse(ToyModelConfig.SchedulerJson().ToJsonString()));
        int timesteps = noiseScheduler.Config.NumTrainTimesteps ?? 1000;
        var dropout = new Random(o.Seed);
        Tensor Loss(int step)
        {
            var (pixels, captions) = batches.Next(o.BatchSize);
            for (int i = 0; i < captions.Length; i++)
                if (dropout.NextDouble() < o.CaptionDropout) captions[i] = "";
            Tensor latents;
            using (no_grad())
            using (var posterior = vae.Encode(pixels))
                latents = posterior.Sample(generator) * scaling;
            var context = textEncoder.Encode(tokenizer.EncodeBatch(captions).InputIds).LastHiddenState;
            var noise = randn(latents.shape, generator: generator);
            var t = randint(0, timesteps, [latents.shape[0]], generator: generator);
            return TrainingStep.Compute(unet, noiseScheduler, latents, noise, t, context, null, withPriorPreservation: false, 0,
                                        snrGamma: o.SnrGamma).Loss;
        }
        void Checkpoint(int step)
        {
            if (o.CheckpointEvery == 0 || step % o.CheckpointEvery != 0 || step == o.Steps) return;
            unet.eval();
            textEncoder.eval();
            save(step);
            unet.train();
            textEncoder.train();
        }
        double loss = ToyTrainingLoop.Run("unet", o.Steps, [.. trainable.Select(p => p.Item2)], optimizer, schedule, Loss, log, progress, cancel, Checkpoint);
        unet.eval();
        textEncoder.eval();
        return loss;
    }

    // Loads a saved toy model into the freshly built modules; its configs must be the ones this run would write.
    private static double LoadSaved(string dir, ToyModelConfig m, AutoencoderKL vae, UNet2DConditionModel unet, CLIPTextModel textEncoder)
    {
        var vaeConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "vae", "config.json")))!.AsObject();
        double scaling = vaeConfig["scaling_factor"]!.GetValue<double>();
        foreach (var (component, expected) in new[] { ("unet", m.UnetJson()), ("text_encoder", m.TextEncoderJson()), ("vae", m.VaeJson(scaling)) })
            if (!JsonNode.DeepEquals(JsonNode.Parse(File.ReadAllText(Path.Combine(dir, component, "config.json"))), expected))
                throw new DreamBoothException($"{dir}: its {component} has another size than this run's model; continue with the same --tiny/--image-size it was made with.");
        foreach (var (component, module) in new (string, nn.Module)[] { ("unet", unet), ("text_encoder", textEncoder), ("vae", vae) })
        {
            var file = Directory.GetFiles(Path.Combine(dir, component), "*.safetensors").Single();
            using var source = TensorSource.Open(file);
            StateDictLoader.Load(module, source, file);
        }
        return scaling;
    }

    private static ConfigFile Parse(string component, JsonObject json) => ConfigFile.Parse($"{component}/config.json", json.ToJsonString());

    private static string FreshFile(string dir, string name)
    {
        var path = Path.Combine(dir, name);
        if (File.Exists(path)) File.Delete(path);
        return path;
    }
}
