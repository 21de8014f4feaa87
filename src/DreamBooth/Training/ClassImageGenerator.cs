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
    /// exists (atomically, with A1111 metadata), so an interrupted run resumes where it stopped. A batch whose first image
    /// is number n (1-based, counting the images already there) uses the seed <paramref name="seed"/> + 1000003·n, so a
    /// rerun or a resumed run draws the same images.
    /// </summary>
    public static int Ensure(StableDiffusionPipeline pipe, string classDir, string classPrompt, int wanted, int batchSize, int steps,
                             ulong seed, int resolution, Action<int, int>? progress = null, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(classDir);
        int existing = ImageLoader.ListImages(classDir, out _).Count;
        if (existing >= wanted) return 0;
        int missing = wanted - existing, made = 0;
        bool wasTraining = pipe.Unet.training;
        pipe.Unet.eval();
        try
        {
            while (made < missing)
            {
                cancel.ThrowIfCancellationRequested();
                int n = Math.Min(batchSize, missing - made);
                var batchSeed = seed + 1000003UL * (ulong)(existing + made + 1);
                using var result = pipe.Generate(new GenerationRequest
                {
                    Prompt = classPrompt,
                    Steps = steps,
                    NumImages = n,
                    Width = resolution,
                    Height = resolution,
                    Seed = batchSeed,
                }, cancel: cancel);
                for (int i = 0; i < n; i++)
                {
                    RgbImage image;
                    using (var pixels = result.Images[i]) image = RgbImage.FromTensor(pixels);   // indexing makes a new handle
                    var hash = Convert.ToHexStringLower(SHA1.HashData(image.Pixels))[..16];
                    var info = A1111Infotext.Format(classPrompt, null, steps, result.SchedulerClass, 7.5, (long)batchSeed, resolution, resolution, pipe.Name,
                                                    extra: [new("Batch pos", i.ToString())]);
                    PngWriter.Write(Path.Combine(classDir, $"{existing + made:D5}-{hash}.png"), image, [new("parameters", info)]);
                    made++;
                }
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
