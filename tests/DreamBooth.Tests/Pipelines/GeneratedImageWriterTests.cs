namespace DreamBooth.Tests.Pipelines;

using System.Text.Json.Nodes;
using DreamBooth.Imaging;
using DreamBooth.Pipelines;
using DreamBooth.Tests.Imaging;

/// <summary>The one image-output path: infotext, sidecar and grid from the parameters of the batch.</summary>
public sealed class GeneratedImageWriterTests
{
    private static readonly GenerationParameters Dpm = new()
    {
        Prompt = "a photo of sks dog",
        NegativePrompt = "blurry, lowres",
        Steps = 12,
        GuidanceScale = 3.25,
        SchedulerClass = "DPMSolverMultistepScheduler",
        Seed = 987654321,
        Width = 48,
        Height = 32,
        NumImages = 3,
        ClipSkip = 1,
        Model = "tiny",
    };

    [Fact]
    public void Infotext_EveryValueFromTheParameters_ExtrasBeforeVersion()
    {
        var writer = new GeneratedImageWriter { InfotextExtra = [new("Lora", "a:0.5, b:1"), new("Skipped", null)] };
        Assert.Equal("a photo of sks dog\nNegative prompt: blurry, lowres\n"
                     + "Steps: 12, Sampler: DPM++ 2M, CFG scale: 3.25, Seed: 987654321, Size: 48x32, Model: tiny, "
                     + $"Batch pos: 2, Clip skip: 2, Lora: \"a:0.5, b:1\", Version: {GeneratedImageWriter.Version}",
                     writer.Infotext(Dpm, batchIndex: 2));
        Assert.Matches(@"^DreamBooth\.NET \d+\.\d+\.\d+", GeneratedImageWriter.Version);

        // A single image has no batch position; a whole batch (a grid) has none either.
        var single = Dpm with { NumImages = 1, ClipSkip = null, NegativePrompt = null };
        Assert.Equal($"a photo of sks dog\nSteps: 12, Sampler: DPM++ 2M, CFG scale: 3.25, Seed: 987654321, Size: 48x32, Model: tiny, Version: {GeneratedImageWriter.Version}",
                     new GeneratedImageWriter().Infotext(single, batchIndex: 0));
        Assert.False(Infotext.Parse(writer.Infotext(Dpm)).Has("Batch pos"));
    }

    [Fact]
    public void Sidecar_EveryValueFromTheParameters_PlusExtras()
    {
        var writer = new GeneratedImageWriter { SidecarExtra = [new("training_step", 40)] };
        var json = JsonNode.Parse(writer.Sidecar(Dpm, batchIndex: 1))!.AsObject();
        Assert.Equal("a photo of sks dog", (string?)json["prompt"]);
        Assert.Equal("blurry, lowres", (string?)json["negative_prompt"]);
        Assert.Equal(987654321UL, (ulong)json["seed"]!);
        Assert.Equal(1, (int)json["batch_index"]!);
        Assert.Equal(3, (int)json["num_images"]!);
        Assert.Equal(12, (int)json["steps"]!);
        Assert.Equal(3.25, (double)json["guidance_scale"]!);
        Assert.Equal("DPMSolverMultistepScheduler", (string?)json["scheduler"]);
        Assert.Equal("DPM++ 2M", (string?)json["sampler"]);
        Assert.Equal((48, 32), ((int)json["width"]!, (int)json["height"]!));
        Assert.Equal(1, (int)json["clip_skip"]!);
        Assert.Equal("tiny", (string?)json["model"]);
        Assert.Equal(40, (int)json["training_step"]!);
        Assert.Equal(GeneratedImageWriter.Version, (string?)json["version"]);
        Assert.False(JsonNode.Parse(writer.Sidecar(Dpm))!.AsObject().ContainsKey("batch_index"));
    }

    [Fact]
    public void WriteBatchAndGrid_InfotextReadsBackFromThePng_SidecarsOnlyWhenAsked()
    {
        using var dir = new TestImages.TempDir();
        var images = Enumerable.Range(0, 3).Select(i => RgbImage.Filled(48, 32, (byte)(i * 90), 20, 30)).ToList();
        var extra = new JsonArray(new JsonObject { ["file"] = "a.safetensors", ["scale"] = 0.5 });
        var writer = new GeneratedImageWriter { SidecarExtra = [new("loras", extra)] };

        var paths = writer.WriteBatch(Dpm, images, (i, image) => dir.File($"img-{i}-{image.GetPixel(0, 0).R}.png"), sidecars: true);
        Assert.Equal([dir.File("img-0-0.png"), dir.File("img-1-90.png"), dir.File("img-2-180.png")], paths);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(writer.Infotext(Dpm, i), PngText.Read(paths[i])["parameters"]);
            Assert.Equal(images[i].Pixels, ImageLoader.Load(paths[i]).Pixels);
            // The extra node goes into every sidecar, not just the first.
            Assert.Equal("a.safetensors", (string?)JsonNode.Parse(File.ReadAllText(Path.ChangeExtension(paths[i], ".json")))!["loras"]![0]!["file"]);
        }

        var grid = writer.WriteGrid(dir.File("grid.png"), Dpm, images, sidecar: false);
        Assert.Equal((144, 32), (grid.Width, grid.Height));
        Assert.Equal(grid.Pixels, ImageLoader.Load(dir.File("grid.png")).Pixels);
        Assert.Equal(writer.Infotext(Dpm), PngText.Read(dir.File("grid.png"))["parameters"]);
        Assert.False(File.Exists(dir.File("grid.json")));

        writer.WriteBatch(Dpm, [images[0]], (_, _) => dir.File("plain.png"), sidecars: false);
        Assert.False(File.Exists(dir.File("plain.json")));
        writer.WriteGrid(dir.File("with-sidecar.png"), Dpm, images, sidecar: true);
        Assert.Equal(writer.Sidecar(Dpm), File.ReadAllText(dir.File("with-sidecar.json")));
    }
}
