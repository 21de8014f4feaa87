namespace DreamBooth.ToyWorld;

using DreamBooth.Imaging;
using DreamBooth.Lora;
using DreamBooth.Pipelines;
using DreamBooth.Training;

/// <summary>
/// DreamBooth end to end in the toy world: instance images of the subject, LoRA and full fine-tuning, each without and
/// with prior preservation, fixed-seed grids of held-out contexts and of the class, and metrics that read the world's known factors.
/// Same options → byte-identical metrics.json.
/// </summary>
public static class ToyDemo
{
    /// <summary>The run names, in the order of metrics.json and the report.</summary>
    public static IReadOnlyList<string> RunNames { get; } = ["base", "lora", "lora-prior", "full", "full-prior"];

    /// <summary>The keys of the five metrics in metrics.json, each with one sentence saying what it means.</summary>
    public static IReadOnlyList<(string Key, string Meaning)> MetricMeanings => ToyDemoReport.Metrics;

    /// <summary>models/toyworld-base under the repository root (the folder holding DreamBooth.slnx), or under the current folder.</summary>
    public static string DefaultBase => Path.Combine(FindRepoRoot() ?? ".", "models", "toyworld-base");

    /// <summary>Runs the demo and writes metrics.json and report.html into <see cref="ToyDemoOptions.OutputDir"/>.</summary>
    public static ToyDemoResult Run(ToyDemoOptions options, IProgress<ToyDemoProgress>? progress = null, CancellationToken cancel = default)
    {
        var o = options.Validated();
        var output = Path.GetFullPath(o.OutputDir);
        Directory.CreateDirectory(output);
        var subject = new ToySubject();

        // 1. The judge: a classifier of the world's shapes and the subject.
        using var classifier = ToyClassifier.Train(new ToyClassifierOptions { Seed = o.Seed, Steps = o.ClassifierSteps, ImageSize = o.ImageSize },
            new SyncProgress<(int Step, int Steps, double Loss)>(p => progress?.Report(new ToyDemoProgress("classifier", $"classifier loss {p.Loss:0.000}", p.Step, p.Steps))), cancel);
        progress?.Report(new ToyDemoProgress("classifier", $"classifier accuracy {classifier.Accuracy:P1}", o.ClassifierSteps, o.ClassifierSteps));

        // 2. Instance images; the backgrounds they do not show are the held-out contexts.
        // Each with its caption beside it, so the runs can put the subject on the held-out backgrounds.
        var instanceDir = FreshFolder(Path.Combine(output, "instance"));
        var instances = subject.WriteInstanceImages(instanceDir, o.InstanceImages, o.Seed, o.ImageSize);
        var used = instances.Select(s => s.Scene.Background).ToHashSet();
        var heldOut = ToyPalette.BackgroundColors.Where(b => !used.Contains(b)).ToList();
        List<ToyDemoPrompt> prompts =
        [
            .. heldOut.Select(b => new ToyDemoPrompt(subject.Scene(b, 0.5, 0.5, 0.5).SubjectCaption(subject.Identifier), ToyPromptKind.Identifier, b)),
            new(subject.ClassPrompt, ToyPromptKind.Class, null),
            new($"a photo of a ball on a {heldOut[0].Name} background", ToyPromptKind.Unrelated, heldOut[0]),
        ];

        // 3. Four runs from the same base: LoRA and full fine-tuning, each without and with prior preservation.
        var classDir = FreshFolder(Path.Combine(output, "class-images"));
        DrawClassImages(o, subject.ClassPrompt, classDir, (k, n) => progress?.Report(new ToyDemoProgress("class images", $"class images {k}/{n}", k, n)), cancel);
        var models = new Dictionary<string, (string Model, string? Lora)> { ["base"] = (o.BaseModel, null) };
        foreach (var (name, method, prior) in new[]
                 {
                     ("lora", TrainMethod.Lora, false), ("lora-prior", TrainMethod.Lora, true),
                     ("full", TrainMethod.Full, false), ("full-prior", TrainMethod.Full, true),
                 })
        {
            var (lr, steps) = method == TrainMethod.Lora ? (o.LearningRate, o.TrainSteps) : (o.FullLearningRate, o.FullTrainSteps);
            var runDir = FreshFolder(Path.Combine(output, "runs", name));
            var train = new TrainOptions
            {
                Method = method, InstanceDataDir = instanceDir, InstancePrompt = subject.InstancePrompt,
                WithPriorPreservation = prior, ClassDataDir = prior ? classDir : null, ClassPrompt = prior ? subject.ClassPrompt : null,
                NumClassImages = o.NumClassImages, ClassInferenceSteps = o.ClassInferenceSteps, SampleBatchSize = 4, Resolution = o.ImageSize,
                TrainBatchSize = 1, GradientAccumulationSteps = 1, LearningRate = lr, MaxTrainSteps = steps,
                Rank = o.Rank, TrainTextEncoder = o.TrainTextEncoder, PriorLossWeight = o.PriorLossWeight,
                CheckpointingSteps = steps + 1, Seed = (ulong)o.Seed, OutputDir = runDir, SortFiles = true,
            };
            var trainProgress = new SyncProgress<TrainProgress>(p => progress?.Report(new ToyDemoProgress(name,
                p.Phase ?? $"{name} step {p.Step}/{p.MaxSteps} loss {p.Loss:0.0000}", p.Step, p.MaxSteps)));
            var result = new DreamBoothTrainer(train, o.BaseModel, warn: w => progress?.Report(new ToyDemoProgress(name, w, 0, steps)))
                .Run(trainProgress, cancel);
            // A LoRA file goes onto the base; a full fine-tune is its own pipeline folder.
            models[name] = method == TrainMethod.Lora ? (o.BaseModel, result.WeightsFile) : (runDir, null);
        }

        // 4. Grids and metrics for each model, at the same seeds.
        var images = new Dictionary<string, IReadOnlyList<IReadOnlyList<RgbImage>>>();
        foreach (var name in RunNames)
        {
            cancel.ThrowIfCancellationRequested();
            images[name] = Sample(o, models[name], prompts, (k, n) => progress?.Report(new ToyDemoProgress("sample", $"{name}: prompt {k}/{n}", k, n)), cancel);
            var gridDir = Directory.CreateDirectory(Path.Combine(output, "grids", name)).FullName;
            for (int k = 0; k < prompts.Count; k++) PngWriter.Write(Path.Combine(gridDir, $"{k:00}.png"), ImageGrid.Make(images[name][k]));
        }
        var metrics = RunNames.Select(name => Measure(name, classifier, prompts, images[name], images["base"])).ToList();

        // 5. metrics.json and report.html.
        var metricsPath = Path.Combine(output, "metrics.json");
        File.WriteAllText(metricsPath, ToyDemoReport.Json(o, heldOut, prompts, metrics, classifier.Accuracy));
        var reportPath = Path.Combine(output, "report.html");
        File.WriteAllText(reportPath, ToyDemoReport.Html(o, prompts, metrics, classifier.Accuracy));
        progress?.Report(new ToyDemoProgress("done", $"wrote {metricsPath} and {reportPath}", 1, 1));
        return new ToyDemoResult(output, metricsPath, reportPath, metrics, classifier.Accuracy);
    }

    private static IReadOnlyList<IReadOnlyList<RgbImage>> Sample(ToyDemoOptions o, (string Model, string? Lora) model, IReadOnlyList<ToyDemoPrompt> prompts,
                                                                 Action<int, int> report, CancellationToken cancel)
    {
        using var pipe = PipelineLoader.Load(model.Model);
        if (model.Lora is { } lora) LoraLoader.Apply(new LoraTargets(pipe.Unet, pipe.TextEncoder, pipe.TextEncoder2), lora);
        var result = new List<IReadOnlyList<RgbImage>>();
        for (int k = 0; k < prompts.Count; k++)
        {
            cancel.ThrowIfCancellationRequested();
            // One seed for every prompt and model: grids of different models differ only by the model.
            result.Add(Draw(pipe, o, prompts[k].Text, o.Seed, o.InferenceSteps, o.ImagesPerPrompt));
            report(k + 1, prompts.Count);
        }
        return result;
    }

    // The prior-preservation images, drawn by the base as the grids are drawn (guidance, steps), so that the class loss
    // holds the model to what its class prompt gave before, not to another sampler's idea of it (the trainer would
    // draw them at diffusers' default guidance 7.5). One seed per batch of four, after the grids' seed.
    private static void DrawClassImages(ToyDemoOptions o, string classPrompt, string classDir, Action<int, int> report, CancellationToken cancel)
    {
        using var pipe = PipelineLoader.Load(o.BaseModel);
        for (int made = 0; made < o.NumClassImages;)
        {
            cancel.ThrowIfCancellationRequested();
            int n = Math.Min(4, o.NumClassImages - made);
            foreach (var image in Draw(pipe, o, classPrompt, o.Seed + 1 + made / 4, o.ClassInferenceSteps, n)) PngWriter.Write(Path.Combine(classDir, $"{made++:00000}.png"), image);
            report(made, o.NumClassImages);
        }
    }

    // The demo's one way of sampling: its image size and guidance, one seed per batch.
    internal static IReadOnlyList<RgbImage> Draw(StableDiffusionPipeline pipe, ToyDemoOptions o, string prompt, int seed, int steps, int count)
    {
        using var generated = pipe.Generate(new GenerationRequest
        {
            Prompt = prompt, Seed = (ulong)seed, Steps = steps, NumImages = count, Width = o.ImageSize, Height = o.ImageSize,
            GuidanceScale = o.GuidanceScale,
        });
        return GeneratedImageWriter.ToImages(generated);
    }

    private static ToyRunMetrics Measure(string name, ToyClassifier classifier, IReadOnlyList<ToyDemoPrompt> prompts,
                                         IReadOnlyList<IReadOnlyList<RgbImage>> images, IReadOnlyList<IReadOnlyList<RgbImage>> baseImages)
    {
        List<RgbImage> Of(ToyPromptKind kind, IReadOnlyList<IReadOnlyList<RgbImage>> from) =>
            [.. prompts.Select((p, k) => (p, k)).Where(x => x.p.Kind == kind).SelectMany(x => from[x.k])];
        var withContext = prompts.Select((p, k) => (p, k)).Where(x => x.p.Background is not null)
                                 .SelectMany(x => images[x.k].Select(i => (i, x.p.Background!))).ToList();
        return new ToyRunMetrics(
            name,
            ToyMetrics.SubjectFidelity(classifier, Of(ToyPromptKind.Identifier, images)),
            ToyMetrics.PromptFidelity(withContext),
            ToyMetrics.ClassSubjectLeak(classifier, Of(ToyPromptKind.Class, images)),
            ToyMetrics.ClassSubjectLeak(classifier, Of(ToyPromptKind.Unrelated, images)),
            ToyMetrics.ClassPriorDrift(Of(ToyPromptKind.Class, images), Of(ToyPromptKind.Class, baseImages)),
            ToyMetrics.Diversity(images));
    }

    // A rerun into the same folder starts from nothing, so its outputs depend only on the options.
    private static string FreshFolder(string path)
    {
        if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        return Directory.CreateDirectory(path).FullName;
    }

    private static string? FindRepoRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "DreamBooth.slnx"))) return dir.FullName;
        return null;
    }
}
