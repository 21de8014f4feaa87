// Checkpoint choice: every saved state of a training run rendered with the same prompts × seeds, scored with the
// DreamBooth paper's metrics, plotted against the step, and one recommended by CheckpointChoice's rule.
namespace DreamBooth.Training;

using System.Globalization;
using DreamBooth.Evaluation;
using DreamBooth.IO;
using DreamBooth.Loading;
using DreamBooth.Lora;
using DreamBooth.Pipelines;

/// <summary>
/// A state of a training run: the base model (step 0), a checkpoint, or the final weights. <paramref name="Use"/> is what
/// a user loads to get it; <paramref name="Lora"/> its LoRA file, or <paramref name="Weights"/> its full fine-tune files.
/// </summary>
public sealed record TrainedState(int Step, string Name, string? Use, string? Lora, IReadOnlyList<string> Weights)
{
    public static readonly TrainedState Base = new(0, "base", null, null, []);

    /// <summary>The state a checkpoint folder holds: its LoRA file or its trainable weights.</summary>
    public static TrainedState? OfCheckpoint(int step, string folder)
    {
        var name = Path.GetFileName(folder);
        var lora = Path.Combine(folder, LoraWriter.DiffusersFileName);
        if (File.Exists(lora)) return new TrainedState(step, name, lora, lora, []);
        var weights = Path.Combine(folder, TrainingState.WeightsFile);
        return File.Exists(weights) ? new TrainedState(step, name, folder, null, [weights]) : null;
    }

    /// <summary>The final weights in a training output: the LoRA file, or the pipeline folder's UNet and text encoders; null when absent.</summary>
    public static TrainedState? OfFinal(int step, string outputDir)
    {
        var lora = Path.Combine(outputDir, LoraWriter.DiffusersFileName);
        if (File.Exists(lora)) return new TrainedState(step, "final", lora, lora, []);
        var unet = Path.Combine(outputDir, "unet", "diffusion_pytorch_model.safetensors");
        if (!File.Exists(Path.Combine(outputDir, "model_index.json")) || !File.Exists(unet)) return null;
        string[] encoders = [Path.Combine(outputDir, "text_encoder", "model.safetensors"), Path.Combine(outputDir, "text_encoder_2", "model.safetensors")];
        return new TrainedState(step, "final", outputDir, null, [unet, .. encoders.Where(File.Exists)]);
    }
}

/// <summary>
/// Evaluates states of one training run with the same settings (prompts, seeds, sampler: <see cref="SubjectEvaluation"/>,
/// each in its own <c>step-NNNNNN/</c> folder with its images, grids, metrics.json and report.html) and keeps
/// <see cref="CheckpointReport"/>'s files up to date after each one. Used after training (<see cref="Run"/>) and
/// while training (<see cref="Evaluate"/> on the live pipeline after each checkpoint).
/// </summary>
public sealed class CheckpointEvaluation(EvaluationModels models, EvaluationSettings settings, string outputDir)
{
    private const string Adapter = "checkpoint";
    private readonly SortedDictionary<int, CheckpointPoint> points = new();
    private readonly IReadOnlyList<CheckpointPoint> earlier = CheckpointReport.Read(outputDir);   // read before this run rewrites it
    private string schedulerClass = settings.Scheduler ?? "?";

    /// <summary>The points evaluated so far (and those picked up by <see cref="Resume"/>), by step.</summary>
    public IReadOnlyList<CheckpointPoint> Points => [.. points.Values];

    /// <summary>The folder of one state's evaluation, relative to the output folder.</summary>
    public static string StepFolder(int step) => "step-" + step.ToString("D6", CultureInfo.InvariantCulture);

    /// <summary>
    /// The states of a training output, by step: its complete checkpoints, then its final weights at the step the
    /// training log ends on (skipped when a checkpoint has that step: the same weights).
    /// </summary>
    public static IReadOnlyList<TrainedState> Find(string trainingOutput, Action<string>? warn = null)
    {
        if (!Directory.Exists(trainingOutput)) throw new DreamBoothException($"{trainingOutput}: folder not found.");
        var states = new List<TrainedState>();
        foreach (var (step, folder) in new CheckpointStore(trainingOutput).List())
        {
            if (TrainedState.OfCheckpoint(step, folder) is { } state) states.Add(state);
            else warn?.Invoke($"{folder}: neither {LoraWriter.DiffusersFileName} nor {TrainingState.WeightsFile}; skipped.");
        }
        var log = Path.Combine(trainingOutput, DreamBoothTrainer.LogFile);
        int? lastStep = File.Exists(log) ? TrainingLog.Read(log).Select(l => (int?)l.Step).Max() : null;
        if (TrainedState.OfFinal(lastStep ?? 0, trainingOutput) is { } final)
        {
            if (lastStep is null) warn?.Invoke($"{trainingOutput}: final weights without {DreamBoothTrainer.LogFile} to tell their step; skipped.");
            else if (states.All(s => s.Step != lastStep)) states.Add(final);
        }
        return states.Count > 0
            ? states
            : throw new DreamBoothException($"{trainingOutput}: no checkpoint-* folders or final weights of a training run.");
    }

    /// <summary>
    /// Evaluates the base model, then every state <see cref="Find"/> lists, loading each into <paramref name="pipe"/>
    /// (the base model the run trained on; full fine-tune weights stay loaded, so the pipeline is spent afterwards).
    /// Returns the recommendation (also in checkpoints.json).
    /// </summary>
    public CheckpointRecommendation Run(StableDiffusionPipeline pipe, IReadOnlyList<TrainedState> states,
                                        Action<TrainedState, EvaluationProgress>? progress = null, CancellationToken cancel = default)
    {
        foreach (var state in new[] { TrainedState.Base }.Concat(states))
        {
            var loaded = Load(pipe, state);
            try
            {
                Evaluate(pipe, state, progress is null ? null : new Progress(p => progress(state, p)), cancel);
            }
            finally
            {
                if (loaded) foreach (var (_, module) in TrainingState.Components(pipe))
                    if (LoraModel.AdapterNames(module).Contains(Adapter)) LoraModel.DeleteAdapter(module, Adapter);
            }
        }
        return WriteReport() ?? throw new DreamBoothException("No checkpoint to choose from.");
    }

    /// <summary>Evaluates <paramref name="pipe"/> as it is now, as <paramref name="state"/>, and rewrites the report.</summary>
    public EvaluationResult Evaluate(StableDiffusionPipeline pipe, TrainedState state, IProgress<EvaluationProgress>? progress = null, CancellationToken cancel = default)
    {
        var stepSettings = settings with { Loras = state.Lora is null ? [] : [(state.Lora, 1.0)], Weights = state.Weights };
        var folder = StepFolder(state.Step);
        var dir = Path.Combine(outputDir, folder);
        Directory.CreateDirectory(dir);
        var result = SubjectEvaluation.Run(pipe, models, stepSettings, dir, progress, cancel);
        EvaluationReport.Write(dir, stepSettings, result);
        schedulerClass = result.SchedulerClass;
        points[state.Step] = new CheckpointPoint(state.Step, state.Name, state.Use, result.Dino, result.ClipI, result.ClipT, result.Pres, result.Div,
                                                 Candidate: state.Step > 0, Report: folder + "/report.html");
        WriteReport();
        return result;
    }

    /// <summary>
    /// Picks up the points an interrupted run evaluated up to <paramref name="step"/> (where it resumes), as the
    /// checkpoints.json in the output folder held them when this evaluation started.
    /// </summary>
    public void Resume(int step)
    {
        foreach (var p in earlier.Where(p => p.Step > 0 && p.Step <= step)) points.TryAdd(p.Step, p);
    }

    /// <summary>
    /// Writes checkpoints.json, .png and .html from the points so far and returns the recommendation (null before the
    /// first checkpoint). Only states still on disk are candidates (checkpoints_total_limit deletes old ones).
    /// </summary>
    public CheckpointRecommendation? WriteReport()
    {
        var current = points.Values.Select(p => p with { Candidate = p.Step > 0 && (File.Exists(p.Use) || Directory.Exists(p.Use)) }).ToList();
        var recommendation = current.Any(p => p.Candidate) ? CheckpointChoice.Recommend(current) : null;
        CheckpointReport.Write(outputDir, current, recommendation, settings, schedulerClass);
        return recommendation;
    }

    // Loads a state's weights into the pipeline: a LoRA as an adapter (true: to be deleted after), full weights over
    // the current ones (states come in step order, and each holds every trainable weight).
    private static bool Load(StableDiffusionPipeline pipe, TrainedState state)
    {
        if (state.Lora is not null)
        {
            LoraLoader.Apply(new LoraTargets(pipe.Unet, pipe.TextEncoder, pipe.TextEncoder2), state.Lora, 1.0, Adapter);
            return true;
        }
        foreach (var file in state.Weights)
        {
            if (Path.GetFileName(file) == TrainingState.WeightsFile)
            {
                TrainingState.LoadWeights(Path.GetDirectoryName(file)!, pipe);
                continue;
            }
            // A final pipeline folder's component file: unet/, text_encoder/ or text_encoder_2/.
            var component = Path.GetFileName(Path.GetDirectoryName(file));
            var module = TrainingState.Components(pipe).FirstOrDefault(c => c.Prefix == component + ".").Module
                         ?? throw new DreamBoothException($"{file}: {pipe.Name} has no {component}.");
            using var source = TensorSource.Open(file);
            StateDictLoader.Load(module, source, file);
        }
        return false;
    }

    private sealed class Progress(Action<EvaluationProgress> report) : IProgress<EvaluationProgress>
    {
        public void Report(EvaluationProgress value) => report(value);
    }
}
