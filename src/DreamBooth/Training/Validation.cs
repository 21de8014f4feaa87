namespace DreamBooth.Training;

using System.Globalization;
using System.Text.Json.Nodes;
using DreamBooth.Pipelines;
using static TorchSharp.torch;

/// <summary>Validation images with a fixed seed, so the grids of successive steps are comparable (diffusers' log_validation).</summary>
public static class Validation
{
    /// <summary>
    /// Generates the validation prompt's images and writes them as one grid, <c>validation/step-NNNNNN.png</c>, with the
    /// same infotext and sidecar (<c>step-NNNNNN.json</c>) <c>dreambooth generate</c> writes for that request, plus the
    /// training step. Returns the grid's path.
    /// </summary>
    public static string Run(StableDiffusionPipeline pipe, TrainOptions options, ulong seed, int step, bool textEncoderTrains)
    {
        var dir = Path.Combine(options.OutputDir, "validation");
        Directory.CreateDirectory(dir);
        var text = pipe.TextEncoder;
        bool unetTraining = pipe.Unet.training, textTraining = text.training;
        pipe.Unet.eval();
        if (textEncoderTrains) text.eval();
        try
        {
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
        }
        finally
        {
            if (unetTraining) pipe.Unet.train();
            if (textEncoderTrains && textTraining) text.train();
        }
    }
}
