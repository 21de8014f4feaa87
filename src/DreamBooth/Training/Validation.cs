namespace DreamBooth.Training;

using System.Globalization;
using System.Text.Json.Nodes;
using DreamBooth.Pipelines;

/// <summary>Validation images with a fixed seed, so the grids of successive steps are comparable (diffusers' log_validation).</summary>
public static class Validation
{
    /// <summary>
    /// Generates the validation prompt's images and writes them as one grid, <c>validation/step-NNNNNN.png</c>, with the
    /// same infotext and sidecar (<c>step-NNNNNN.json</c>) <c>dreambooth generate</c> writes for that request, plus the
    /// training step. Returns the grid's path.
    /// </summary>
    public static string Run(StableDiffusionPipeline pipe, TrainOptions options, ulong seed, int step) => InEvalMode(pipe, () =>
    {
        var dir = Path.Combine(options.OutputDir, "validation");
        Directory.CreateDirectory(dir);
        var request = new GenerationRequest
        {
            Prompt = options.ValidationPrompt!,
            Steps = options.ValidationInferenceSteps,
            NumImages = options.NumValidationImages,
            Seed = seed,
        };
        using var result = pipe.Generate(request);
        var stepText = step.ToString(CultureInfo.InvariantCulture);
        var writer = new GeneratedImageWriter { InfotextExtra = [new("Training step", stepText)], SidecarExtra = [new("training_step", step)] };
        var path = Path.Combine(dir, $"step-{step.ToString("D6", CultureInfo.InvariantCulture)}.png");
        writer.WriteGrid(path, GenerationParameters.From(request, result, pipe.Name), GeneratedImageWriter.ToImages(result), sidecar: true);
        return path;
    });

    /// <summary>
    /// Runs <paramref name="work"/> with the pipeline's UNet and text encoders in eval mode (no dropout; what generation
    /// mid-training needs), then puts back the training mode of those that were training.
    /// </summary>
    public static T InEvalMode<T>(StableDiffusionPipeline pipe, Func<T> work)
    {
        var models = TrainingState.Components(pipe).Select(c => (c.Module, Training: c.Module.training)).ToList();
        foreach (var (module, _) in models) module.eval();
        try
        {
            return work();
        }
        finally
        {
            foreach (var (module, training) in models)
                if (training) module.train();
        }
    }
}
