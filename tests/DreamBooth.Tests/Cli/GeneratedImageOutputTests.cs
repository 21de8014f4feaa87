namespace DreamBooth.Tests.Cli;

using System.Text.Json.Nodes;
using DreamBooth.Imaging;
using DreamBooth.Pipelines;
using DreamBooth.Tests.Pipelines;
using DreamBooth.Training;

/// <summary>generate, validation samples and class images write one request's images the same way.</summary>
public sealed class GeneratedImageOutputTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("image-output").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private string Generate(string sub, params string[] args)
    {
        var outDir = Path.Combine(dir, sub);
        var (code, output) = CliRunner.Run(["generate", "-m", Fixtures.Path("sd15-tiny"), .. args, "-o", outDir]);
        Assert.True(code == 0, output);
        return outDir;
    }

    [Fact]
    public void SameRequest_GenerateAndValidation_SameInfotextSidecarAndGrid()
    {
        var generated = Generate("generate", "-p", "a sks dog", "--seed", "11", "--steps", "2", "--num-images", "2");
        using var pipe = PipelineLoader.Load(Fixtures.Path("sd15-tiny"));
        var options = new TrainOptions { ValidationPrompt = "a sks dog", ValidationInferenceSteps = 2, NumValidationImages = 2, OutputDir = Path.Combine(dir, "train") };
        var grid = Validation.Run(pipe, options, seed: 11, step: 5);
        Assert.Equal(Path.Combine(dir, "train", "validation", "step-000005.png"), grid);

        var fromGenerate = Infotext.Parse(PngText.Read(Path.Combine(generated, "00000-11.png"))["parameters"]);
        var fromValidation = Infotext.Parse(PngText.Read(grid)["parameters"]);
        Assert.Equal(fromGenerate.Prompt, fromValidation.Prompt);
        foreach (var key in new[] { "Steps", "Sampler", "CFG scale", "Seed", "Size", "Model", "Version" })
            Assert.Equal(fromGenerate[key], fromValidation[key]);
        Assert.Equal(("2", "PLMS", "7.5", "11"), (fromValidation["Steps"], fromValidation["Sampler"], fromValidation["CFG scale"], fromValidation["Seed"]));
        Assert.Equal("5", fromValidation["Training step"]);
        Assert.Equal("0", fromGenerate["Batch pos"]);
        Assert.False(fromValidation.Has("Batch pos"));

        var generateSidecar = JsonNode.Parse(File.ReadAllText(Path.Combine(generated, "00000-11.json")))!.AsObject();
        var validationSidecar = JsonNode.Parse(File.ReadAllText(Path.ChangeExtension(grid, ".json")))!.AsObject();
        foreach (var key in new[] { "prompt", "negative_prompt", "seed", "num_images", "steps", "guidance_scale", "scheduler", "sampler", "width", "height", "clip_skip", "model", "version" })
            Assert.True(JsonNode.DeepEquals(generateSidecar[key], validationSidecar[key]), key);
        Assert.Equal(5, (int)validationSidecar["training_step"]!);

        // The same request draws the same images, and both grids lay them out alike.
        Assert.Equal(ImageLoader.Load(Path.Combine(generated, "grid-11.png")).Pixels, ImageLoader.Load(grid).Pixels);
    }

    [Fact]
    public void SameRequest_GenerateAndClassImages_IdenticalInfotextAndPixels()
    {
        using var pipe = PipelineLoader.Load(Fixtures.Path("sd15-tiny"));
        var classDir = Path.Combine(dir, "class");
        Assert.Equal(1, ClassImageGenerator.Ensure(pipe, classDir, "a photo of dog", wanted: 1, batchSize: 1, steps: 2, seed: 7, resolution: 32));
        var classImage = Directory.GetFiles(classDir).Single();   // no sidecar beside it
        Assert.StartsWith("00000-", Path.GetFileName(classImage));

        // The first batch of class images is drawn from seed + 1000003·1.
        var generated = Generate("generate", "-p", "a photo of dog", "--seed", "1000010", "--steps", "2", "-W", "32", "-H", "32");
        var png = Path.Combine(generated, "00000-1000010.png");
        Assert.Equal(PngText.Read(png)["parameters"], PngText.Read(classImage)["parameters"]);
        Assert.Equal(ImageLoader.Load(png).Pixels, ImageLoader.Load(classImage).Pixels);
    }

    [Theory]
    [InlineData(3, 1, 3)]
    [InlineData(5, 2, 3)]
    [InlineData(7, 2, 4)]
    public void Generate_AnyImageCount_EveryImageAndAGrid(int count, int rows, int cols)
    {
        var outDir = Generate("n" + count, "-p", "x", "--seed", "3", "--steps", "1", "--num-images", count.ToString());
        var pngs = Directory.GetFiles(outDir, "0*.png").Order().ToList();
        Assert.Equal(count, pngs.Count);
        Assert.All(pngs, p => Assert.True(File.Exists(Path.ChangeExtension(p, ".json")), p));
        var grid = ImageLoader.Load(Path.Combine(outDir, "grid-3.png"));
        Assert.Equal((cols * 32, rows * 32), (grid.Width, grid.Height));
        var last = ImageLoader.Load(pngs[^1]);
        int left = (count - 1) % cols * 32, top = (count - 1) / cols * 32;
        for (var y = 0; y < 32; y += 7)
            for (var x = 0; x < 32; x += 5)
                Assert.Equal(last.GetPixel(x, y), grid.GetPixel(left + x, top + y));
        Assert.StartsWith("x\nSteps: 1, Sampler: PLMS, CFG scale: 7.5, Seed: 3, Size: 32x32, Model: sd15-tiny, Version: ",
                          PngText.Read(Path.Combine(outDir, "grid-3.png"))["parameters"]);
    }
}
