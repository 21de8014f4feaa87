namespace DreamBooth.Tests.ToyWorld;

using System.Diagnostics;
using DreamBooth.Imaging;
using DreamBooth.Pipelines;
using DreamBooth.ToyWorld;
using DreamBooth.Training;
using DreamBooth.Tests.Training;
using Xunit.Abstractions;

/// <summary>
/// The demo's metrics on real models, at reduced size: a short full fine-tune of the repository's toy base on the
/// subject's four captioned images (a model that has learned the subject) against the base itself (one that has not),
/// both sampled at the demo's settings and seeds and judged by the demo's classifier.
/// </summary>
[Collection(TrainingRuns.Name)]
public sealed class ToyMetricsOnModelsTests(ITestOutputHelper output) : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("toy-metrics").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void Metrics_SeparateAModelThatLearnedTheSubject_FromTheBase()
    {
        var watch = Stopwatch.StartNew();
        var subject = new ToySubject();
        var demo = new ToyDemoOptions { BaseModel = ToyDemo.DefaultBase, OutputDir = dir };
        var instanceDir = Path.Combine(dir, "instance");
        var instances = subject.WriteInstanceImages(instanceDir, demo.InstanceImages, demo.Seed, demo.ImageSize);
        var runDir = Path.Combine(dir, "full");
        new DreamBoothTrainer(new TrainOptions
        {
            Method = TrainMethod.Full, InstanceDataDir = instanceDir, InstancePrompt = subject.InstancePrompt, Resolution = demo.ImageSize,
            TrainBatchSize = 1, LearningRate = 3e-4, MaxTrainSteps = 150, TrainTextEncoder = true, CheckpointingSteps = 1000,
            Seed = 0, OutputDir = runDir, SortFiles = true,
        }, ToyDemo.DefaultBase).Run();
        output.WriteLine($"trained {watch.Elapsed}");

        // A background none of the instance images shows, as the demo's held-out contexts.
        var used = instances.Select(s => s.Scene.Background).ToHashSet();
        var heldOut = ToyPalette.BackgroundColors.First(b => !used.Contains(b));
        string[] prompts = [subject.Scene(heldOut, 0.5, 0.5, 0.5).SubjectCaption(subject.Identifier), subject.ClassPrompt];
        var baseImages = Sample(ToyDemo.DefaultBase, prompts, demo);
        var learnedImages = Sample(runDir, prompts, demo);
        output.WriteLine($"sampled {watch.Elapsed}");

        using var classifier = ToyClassifier.Train(new ToyClassifierOptions { Seed = demo.Seed, Steps = demo.ClassifierSteps, ImageSize = demo.ImageSize });
        double baseFidelity = ToyMetrics.SubjectFidelity(classifier, baseImages[0]);
        double learnedFidelity = ToyMetrics.SubjectFidelity(classifier, learnedImages[0]);
        double baseLeak = ToyMetrics.ClassSubjectLeak(classifier, baseImages[1]);
        double learnedLeak = ToyMetrics.ClassSubjectLeak(classifier, learnedImages[1]);
        double drift = ToyMetrics.ClassPriorDrift(learnedImages[1], baseImages[1]);
        output.WriteLine($"classifier {classifier.Accuracy:0.000}; fidelity base {baseFidelity} learned {learnedFidelity}; "
                         + $"leak base {baseLeak} learned {learnedLeak}; drift {drift:0.0000}; {watch.Elapsed}");

        // The base never draws the subject; the fine-tuned model draws it in a context it was not shown, and (no prior
        // preservation) lets it leak into its class prompt, which moves away from the base's.
        Assert.True(baseFidelity <= 0.125, $"base subject fidelity {baseFidelity}");
        Assert.True(learnedFidelity >= 0.5, $"learned subject fidelity {learnedFidelity}");
        Assert.True(learnedLeak >= baseLeak + 0.5, $"class leak {learnedLeak}, base {baseLeak}");
        Assert.True(drift > 0.01, $"class prior drift {drift}");
    }

    private static List<IReadOnlyList<RgbImage>> Sample(string model, string[] prompts, ToyDemoOptions demo)
    {
        using var pipe = PipelineLoader.Load(model);
        return [.. prompts.Select(p => ToyDemo.Draw(pipe, demo, p, demo.Seed, demo.InferenceSteps, 16))];
    }
}
