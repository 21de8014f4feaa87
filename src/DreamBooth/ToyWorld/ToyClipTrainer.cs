namespace DreamBooth.ToyWorld;

using System.Diagnostics;
using DreamBooth.Loading;
using DreamBooth.Models;
using DreamBooth.Models.Clip;
using DreamBooth.Torch;
using DreamBooth.Training;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Trains the toy world's CLIP from a fresh initialisation with the project's own training code: CLIP's symmetric
/// contrastive loss with a learnable temperature on freshly rendered scenes and their captions, including the
/// DreamBooth subject under its colour caption, AdamW with warm-up and cosine decay. Captions that are true of more
/// than one image of a batch ("a photo of a box") count as positives for all of them. Writes a transformers
/// CLIPModel folder that <c>dreambooth evaluate --clip</c> loads like openai/clip-vit-base-patch32, then measures it
/// with <see cref="ToyClipProbe"/>. Deterministic for a seed on one machine.
/// </summary>
public sealed class ToyClipTrainer(ToyClipOptions options)
{
    public const string LogFile = "train_log.jsonl";

    /// <summary>The seed offset of the probe's scenes, so they are not the training stream's.</summary>
    public const int ProbeSeedOffset = 7919;

    public ToyClipResult Run(IProgress<ToyPretrainProgress>? progress = null, CancellationToken cancel = default)
    {
        var o = options.Validated();
        TorchRuntime.EnsureLoaded();
        Directory.CreateDirectory(o.OutputDir);
        var clock = Stopwatch.StartNew();
        using var generator = Rng.CpuGenerator((ulong)o.Seed);

        // Built from the same texts that are saved, so the folder loads into exactly this model and preprocessing.
        using var model = new CLIPModel(CLIPConfig.From(ConfigFile.Parse("config.json", o.Model.ConfigJson().ToJsonString())));
        FreshInit.Apply(model, generator);
        var logitScale = model.named_parameters().Single(p => p.name == "logit_scale").parameter;
        using (no_grad()) logitScale.fill_(ToyClipConfig.LogitScaleInit);
        var processor = new CLIPImageProcessor(ImageProcessorConfig.From(
            ConfigFile.Parse("preprocessor_config.json", o.Model.PreprocessorJson().ToJsonString()), CLIPImageProcessor.Defaults, defaultToSquare: false));
        var tokenizer = CLIPTokenizer.FromFolder(ToyModelWriter.TokenizerFolder());

        var path = Path.Combine(o.OutputDir, LogFile);
        if (File.Exists(path)) File.Delete(path);
        double loss;
        using (var log = new TrainingLog(path))
            loss = Train(model, logitScale, processor, tokenizer, o, generator, log, progress, cancel);
        TrainingLog.PlotLoss(path, Path.Combine(o.OutputDir, "loss.png"));

        progress?.Report(new ToyPretrainProgress("saving", o.Steps, o.Steps, double.NaN, 0));
        ToyModelWriter.WriteClip(o.OutputDir, o.Model, model);
        progress?.Report(new ToyPretrainProgress("probing", o.Steps, o.Steps, double.NaN, 0));
        var scores = ToyClipProbe.Measure(o.OutputDir, o.Seed + ProbeSeedOffset, imageSize: o.Model.ImageSize);
        return new ToyClipResult(o.OutputDir, loss, model.ParameterCount, clock.Elapsed, scores);
    }

    private static double Train(CLIPModel model, Tensor logitScale, CLIPImageProcessor processor, CLIPTokenizer tokenizer, ToyClipOptions o,
                                Generator generator, TrainingLog log, IProgress<ToyPretrainProgress>? progress, CancellationToken cancel)
    {
        model.train();
        var parameters = model.named_parameters().Select(p => (p.name, p.parameter)).ToList();
        using var optimizer = new AdamW(parameters, new AdamWOptions(o.LearningRate, WeightDecay: o.WeightDecay).Validated());
        var schedule = new LrSchedule("cosine", o.WarmupSteps, o.Steps, learningRate: o.LearningRate);
        var pairs = new PairSampler(o);
        // Pixel noise of std o.Noise in [0, 1] units is o.Noise / std in the processor's normalised units.
        using var noiseScale = tensor(processor.Config.ImageStd.Select(s => (float)(o.Noise / s)).ToArray()).view(1, 3, 1, 1);
        using var minLogitScale = 0.0.ToScalar();
        using var maxLogitScale = Math.Log(100).ToScalar();
        Tensor Loss(int step)
        {
            var batch = pairs.Next(o.BatchSize);
            var pixels = processor.Preprocess([.. batch.Select(p => ToyRenderer.Render(p.Scene, o.Model.ImageSize))]);
            if (o.Noise > 0) pixels = Ops.Add(pixels, randn(pixels.shape, generator: generator) * noiseScale);
            var ids = TrimmedIds(tokenizer, [.. batch.Select(p => p.Caption)]);
            using var output = model.call(ids, pixels);
            return ContrastiveLoss(output.LogitsPerImage, Matches(batch));
        }
        // CLIP caps the temperature at 100 so the logits cannot run away.
        void Clamp(int step)
        {
            using (no_grad()) logitScale.clamp_(minLogitScale, maxLogitScale);
        }
        double loss = ToyTrainingLoop.Run("clip", o.Steps, [.. parameters.Select(p => p.parameter)], optimizer, schedule, Loss, log, progress, cancel, Clamp);
        model.eval();
        return loss;
    }

    // The tokenizer pads to 77; only the tokens up to the longest caption's end-of-text matter (the causal mask hides
    // the rest from the pooled position), so the batch is cut there.
    private static Tensor TrimmedIds(CLIPTokenizer tokenizer, IReadOnlyList<string> captions)
    {
        var (ids, mask) = tokenizer.EncodeBatch(captions);
        long length = mask.sum(1).max().item<long>();
        return ids.narrow(1, 0, length);
    }

    // matches[i, j] = 1 when caption j is true of image i (always on the diagonal).
    internal static Tensor Matches(IReadOnlyList<ToyClipPair> batch)
    {
        int n = batch.Count;
        var data = new float[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                data[i * n + j] = batch[j].IsTrueOf(batch[i].Scene) ? 1 : 0;
        return tensor(data, [n, n]);
    }

    /// <summary>
    /// CLIP's symmetric loss, the mean of the image→caption and caption→image cross-entropies, each against the uniform
    /// distribution over a row's positives (<paramref name="matches"/>, [images, captions]): with only the diagonal
    /// positive it is exactly CLIP's; a caption true of several images does not push them apart.
    /// </summary>
    internal static Tensor ContrastiveLoss(Tensor logitsPerImage, Tensor matches)
    {
        using var scope = NewDisposeScope();
        var images = SoftCrossEntropy(logitsPerImage, matches);
        var captions = SoftCrossEntropy(logitsPerImage.t(), matches.t());
        return Ops.Mul(Ops.Add(images, captions), 0.5).MoveToOuterDisposeScope();
    }

    private static Tensor SoftCrossEntropy(Tensor logits, Tensor matches)
    {
        var targets = matches / matches.sum(1, keepdim: true);
        return -(targets * nn.functional.log_softmax(logits, 1)).sum(1).mean();
    }

    /// <summary>The seeded stream of training pairs: ordinary scenes and the subject, full or shortened captions.</summary>
    private sealed class PairSampler(ToyClipOptions o)
    {
        private readonly ToySceneSampler scenes = new(o.Seed);
        private readonly Random random = new(o.Seed);
        private readonly ToySubject subject = new();

        public List<ToyClipPair> Next(int count) => [.. Enumerable.Range(0, count).Select(_ => NextPair())];

        private ToyClipPair NextPair()
        {
            ToyScene scene;
            if (random.NextDouble() < o.SubjectShare)
            {
                var background = ToyPalette.BackgroundColors[random.Next(ToyPalette.BackgroundColors.Count)];
                var (size, x, y) = ToySceneSampler.Placement(random);
                scene = subject.Scene(background, size, x, y);
            }
            else scene = scenes.Next();
            if (random.NextDouble() >= o.PartialCaptionShare) return new ToyClipPair(scene, true, true);
            return random.Next(3) switch
            {
                0 => new ToyClipPair(scene, false, true),
                1 => new ToyClipPair(scene, true, false),
                _ => new ToyClipPair(scene, false, false),
            };
        }
    }
}
