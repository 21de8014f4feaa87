namespace DreamBooth.Tests.ToyWorld;

using DreamBooth.Imaging;
using DreamBooth.Lora;
using DreamBooth.Pipelines;
using DreamBooth.ToyWorld;
using DreamBooth.Training;
using DreamBooth.Tests.Training;
using Xunit.Abstractions;

/// <summary>
/// --concepts-list on the repository's pretrained toy base: one LoRA run learns two subjects under two identifiers, and
/// each identifier then draws its own subject (read from the colours neither the base nor the other subject has).
/// </summary>
[Collection(TrainingRuns.Name)]
public sealed class ToyConceptsTests(ITestOutputHelper output) : IDisposable
{
    private static readonly ToyColor Cyan = new("cyan", 0, 230, 230);
    private readonly string dir = Directory.CreateTempSubdirectory("toy-concepts").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void ConceptsList_TrainsTwoIdentifiers_WhoseImagesDiffer()
    {
        var sks = new ToySubject();                                               // magenta and black
        var zwx = new ToySubject { Identifier = "zwx", FirstColor = Cyan };       // cyan and black
        var captions = new List<IReadOnlyList<string>>();
        var concepts = new[] { (Subject: sks, Seed: 0), (Subject: zwx, Seed: 1) }.Select(c =>
        {
            var folder = Path.Combine(dir, c.Subject.Identifier);
            captions.Add([.. c.Subject.WriteInstanceImages(folder, 4, c.Seed).Select(i => i.Caption)]);
            return $$"""{"instance_prompt": "{{c.Subject.InstancePrompt}}", "instance_data_dir": "{{folder}}"}""";
        }).ToList();
        var list = Path.Combine(dir, "concepts.json");
        File.WriteAllText(list, $"[{string.Join(", ", concepts)}]");

        // A full fine-tune (text encoder too) on both subjects' 8 captioned images: LoRA at the demo's settings learns the
        // subjects' colours too weakly to tell two of them apart.
        var run = Path.Combine(dir, "run");
        new DreamBoothTrainer(new TrainOptions
        {
            Method = TrainMethod.Full, ConceptsList = list, Resolution = 32, TrainBatchSize = 1, LearningRate = 3e-4, MaxTrainSteps = 300,
            TrainTextEncoder = true, CheckpointingSteps = 1000, Seed = 0, OutputDir = run, SortFiles = true,
        }, ToyDemo.DefaultBase).Run();

        // Each identifier on two of the backgrounds it was shown on ("a photo of zwx box on a white background").
        var prompts = captions.Select(c => c.Take(2).ToList()).ToList();
        List<(double Magenta, double Cyan)> before, after;
        using (var basePipe = PipelineLoader.Load(ToyDemo.DefaultBase)) before = Shares(basePipe, prompts);
        using (var trainedPipe = PipelineLoader.Load(run)) after = Shares(trainedPipe, prompts);

        output.WriteLine($"base {before[0]} {before[1]}; trained {after[0]} {after[1]}");
        // Each identifier draws its own subject's colour: far more than the base drew for the same prompt, and far more
        // than of the other subject's colour.
        var (sksAfter, zwxAfter) = (after[0], after[1]);
        Assert.True(sksAfter.Magenta > 0.03 && sksAfter.Magenta > 3 * before[0].Magenta && sksAfter.Magenta > 5 * sksAfter.Cyan, $"sks: {sksAfter}, base {before[0]}");
        Assert.True(zwxAfter.Cyan > 0.03 && zwxAfter.Cyan > 3 * before[1].Cyan && zwxAfter.Cyan > 5 * zwxAfter.Magenta, $"zwx: {zwxAfter}, base {before[1]}");
    }

    // Mean share of magenta-like and of cyan-like pixels in 4 images of each prompt (the demo's sampler, 20 steps), per identifier.
    private List<(double Magenta, double Cyan)> Shares(StableDiffusionPipeline pipe, List<List<string>> promptsByIdentifier) =>
        [.. promptsByIdentifier.Select(prompts =>
        {
            var demo = new ToyDemoOptions { BaseModel = ToyDemo.DefaultBase, OutputDir = dir };
            var images = prompts.SelectMany(prompt => ToyDemo.Draw(pipe, demo, prompt, seed: 0, steps: 20, count: 4)).ToList();
            return (images.Average(i => Share(i, (r, g, b) => b > 140 && r - g > 100)), images.Average(i => Share(i, (r, g, b) => b > 140 && g - r > 100)));
        })];

    private static double Share(RgbImage image, Func<int, int, int, bool> like)
    {
        int n = 0;
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
            {
                var (r, g, b) = image.GetPixel(x, y);
                if (like(r, g, b)) n++;
            }
        return n / (double)(image.Width * image.Height);
    }
}
