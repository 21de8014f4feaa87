namespace DreamBooth.Training;

using System.Globalization;
using DreamBooth.Imaging;
using DreamBooth.Pipelines;
using static TorchSharp.torch;

/// <summary>Validation images with a fixed seed, so the grids of successive steps are comparable (diffusers' log_validation).</summary>
public static class Validation
{
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
            using var result = pipe.Generate(new GenerationRequest
            {
                Prompt = options.ValidationPrompt!,
                Steps = options.ValidationInferenceSteps,
                NumImages = options.NumValidationImages,
                Seed = seed,
            });
            var images = Enumerable.Range(0, options.NumValidationImages).Select(i =>
            {
                using var image = result.Images[i];   // indexing makes a new tensor handle
                return RgbImage.FromTensor(image);
            }).ToList();
            int cols = Math.Min(4, images.Count), rows = (images.Count + cols - 1) / cols;
            var path = Path.Combine(dir, $"step-{step.ToString("D6", CultureInfo.InvariantCulture)}.png");
            var info = A1111Infotext.Format(options.ValidationPrompt!, null, options.ValidationInferenceSteps, result.SchedulerClass, 7.5, (long)seed,
                                            result.Width, result.Height, pipe.Name, extra: [new("Training step", step.ToString(CultureInfo.InvariantCulture))]);
            PngWriter.Write(path, ImageGrid.Make(images, rows, cols), [new("parameters", info)]);
            return path;
        }
        finally
        {
            if (unetTraining) pipe.Unet.train();
            if (textEncoderTrains && textTraining) text.train();
        }
    }
}
