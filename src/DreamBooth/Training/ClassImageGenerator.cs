// Mirrors the class-image step of diffusers examples/dreambooth/train_dreambooth.py (prior preservation).
namespace DreamBooth.Training;

using System.Security.Cryptography;
using DreamBooth.Imaging;
using DreamBooth.Pipelines;

/// <summary>Tops the class folder up to the wanted count with images the model itself generates from the class prompt.</summary>
public static class ClassImageGenerator
{
    /// <summary>
    /// Generates the missing images in batches of <paramref name="batchSize"/>. Each image is written as soon as it
    /// exists (atomically, with the infotext <c>dreambooth generate</c> writes for the same request; no sidecar), so an
    /// interrupted run resumes where it stopped. A batch whose first image is number n (1-based, counting the images
    /// already there) uses <see cref="TrainingState.ClassImageSeed"/>(<paramref name="seed"/>, n), so a rerun or a resumed run draws the same images.
    /// </summary>
    public static int Ensure(StableDiffusionPipeline pipe, string classDir, string classPrompt, int wanted, int batchSize, int steps,
                             ulong seed, int resolution, Action<int, int>? progress = null, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(classDir);
        int existing = ImageLoader.ListImages(classDir, out _).Count;
        if (existing >= wanted) return 0;
        int missing = wanted - existing, made = 0;
        var writer = new GeneratedImageWriter();
        bool wasTraining = pipe.Unet.training;
        pipe.Unet.eval();
        try
        {
            while (made < missing)
            {
                cancel.ThrowIfCancellationRequested();
                int n = Math.Min(batchSize, missing - made);
                var batchSeed = TrainingState.ClassImageSeed(seed, existing + made + 1);
                var request = new GenerationRequest
                {
                    Prompt = classPrompt,
                    Steps = steps,
                    NumImages = n,
                    Width = resolution,
                    Height = resolution,
                    Seed = batchSeed,
                };
                using var result = pipe.Generate(request, cancel: cancel);
                int first = existing + made;
                writer.WriteBatch(GenerationParameters.From(request, result, pipe.Name), GeneratedImageWriter.ToImages(result),
                                  (i, image) => Path.Combine(classDir, $"{first + i:D5}-{Convert.ToHexStringLower(SHA1.HashData(image.Pixels))[..16]}.png"),
                                  sidecars: false);
                made += n;
                progress?.Invoke(existing + made, wanted);
            }
        }
        finally
        {
            if (wasTraining) pipe.Unet.train();
        }
        return made;
    }
}
