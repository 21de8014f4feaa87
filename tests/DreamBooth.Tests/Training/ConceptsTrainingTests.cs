namespace DreamBooth.Tests.Training;

using DreamBooth.Imaging;
using DreamBooth.Lora;
using DreamBooth.Pipelines;
using DreamBooth.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>Runs with a concepts list on the tiny SD 1.x pipeline: several subjects, each with its own identifier and images.</summary>
[Collection(TrainingRuns.Name)]
public sealed class ConceptsTrainingTests(ITestOutputHelper output) : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("concepts-run").FullName;

    public void Dispose()
    {
        try { Directory.Delete(root, true); } catch (IOException) { }
    }

    // Solid-colour photos with a little noise, so the crops differ.
    private string Photos(string name, (byte R, byte G, byte B) colour, int count)
    {
        var dir = Path.Combine(root, name);
        Directory.CreateDirectory(dir);
        var random = new Random(name.Length);
        for (int i = 0; i < count; i++)
        {
            var image = new RgbImage(40, 40);
            for (int y = 0; y < 40; y++)
                for (int x = 0; x < 40; x++)
                    image.SetPixel(x, y, Jitter(colour.R), Jitter(colour.G), Jitter(colour.B));
            PngWriter.Write(Path.Combine(dir, $"{i:D2}.png"), image);
        }
        return dir;
        byte Jitter(byte v) => (byte)Math.Clamp(v + random.Next(-8, 9), 0, 255);
    }

    private static readonly (byte, byte, byte) Red = (230, 20, 20), Blue = (20, 20, 230);

    private string ConceptsFile(string name, params (string Prompt, string Dir)[] concepts)
    {
        var path = Path.Combine(root, name);
        File.WriteAllLines(path, concepts.SelectMany(c => new[] { $"- instance_prompt: \"{c.Prompt}\"", $"  instance_data_dir: \"{c.Dir}\"" }));
        return path;
    }

    // What the pipeline draws for a prompt (fixed seed), as [3, 32, 32] in [0, 1].
    private static Tensor Draw(StableDiffusionPipeline pipe, string prompt)
    {
        using var result = pipe.Generate(new GenerationRequest { Prompt = prompt, Steps = 10, Seed = 3, Width = 32, Height = 32 });
        return result.Images[0].clone();
    }

    // A photo as the VAE gives it back: the closest the pipeline can come to it.
    private static Tensor RoundTrip(StableDiffusionPipeline pipe, string dir)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var image = ImageLoader.Load(Directory.GetFiles(dir, "*.png").Order().First());
        var pixels = new TrainTransforms(new TrainTransformOptions(32, true, FlipMode.None)).Apply(image, new CropChoice(false, 0, 0)).Pixels;
        using var dist = pipe.Vae.Encode(pixels.unsqueeze(0));
        var decoded = pipe.Vae.Decode(dist.Mean);
        return ((decoded[0] + 1) / 2).clamp(0, 1).MoveToOuterDisposeScope();
    }

    private static double Distance(Tensor a, Tensor b) => (a - b).square().mean().item<float>();

    [Fact]
    public void Train_ConceptsList_EachIdentifierDrawsItsOwnSubject()
    {
        var red = Photos("red", Red, 3);
        var blue = Photos("blue", Blue, 3);
        var o = new TrainOptions
        {
            ConceptsList = ConceptsFile("concepts.yaml", ("a photo of sks thing", red), ("a photo of zwx thing", blue)),
            Resolution = 32,
            TrainBatchSize = 1,
            GradientAccumulationSteps = 1,
            LearningRate = 1e-2,
            MaxTrainSteps = 60,
            CheckpointingSteps = 1000,
            Seed = 5,
            OutputDir = Path.Combine(root, "out"),
        };
        var result = new DreamBoothTrainer(o, Fixtures.Path("sd15-tiny")).Run();

        using var pipe = PipelineLoader.Load(Fixtures.Path("sd15-tiny"));
        var (refRed, refBlue) = (RoundTrip(pipe, red), RoundTrip(pipe, blue));
        var (baseA, baseB) = (Draw(pipe, "a photo of sks thing"), Draw(pipe, "a photo of zwx thing"));
        LoraLoader.Apply(new LoraTargets(pipe.Unet), result.WeightsFile!);
        var (a, b) = (Draw(pipe, "a photo of sks thing"), Draw(pipe, "a photo of zwx thing"));
        output.WriteLine($"base sks: red {Distance(baseA, refRed):0.0000} blue {Distance(baseA, refBlue):0.0000}; zwx: red {Distance(baseB, refRed):0.0000} blue {Distance(baseB, refBlue):0.0000}");
        output.WriteLine($"lora sks: red {Distance(a, refRed):0.0000} blue {Distance(a, refBlue):0.0000}; zwx: red {Distance(b, refRed):0.0000} blue {Distance(b, refBlue):0.0000}");
        output.WriteLine($"mean colour sks {string.Join(",", a.mean([1, 2]).data<float>().ToArray())} zwx {string.Join(",", b.mean([1, 2]).data<float>().ToArray())} refRed {string.Join(",", refRed.mean([1, 2]).data<float>().ToArray())} refBlue {string.Join(",", refBlue.mean([1, 2]).data<float>().ToArray())}");
        Assert.True(Distance(a, refRed) < Distance(a, refBlue), "sks should draw the red subject");
        Assert.True(Distance(b, refBlue) < Distance(b, refRed), "zwx should draw the blue subject");
    }
}
