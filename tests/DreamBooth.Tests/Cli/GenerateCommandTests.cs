namespace DreamBooth.Tests.Cli;

using System.Text.Json;
using DreamBooth.Imaging;

public sealed class GenerateCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("generate-cli").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void Generate_FourImages_PngsWithA1111MetadataSidecarsAndGrid()
    {
        var (code, output) = CliRunner.Run("generate", "-m", Fixtures.Path("sd15-tiny"), "-p", "a photo of sks dog", "-n", "blurry",
                                           "--seed", "42", "--steps", "3", "--num-images", "4", "--scheduler", "euler-a", "-o", dir);
        Assert.True(code == 0, output);
        var pngs = Directory.GetFiles(dir, "0*.png").Order().ToList();
        Assert.Equal(4, pngs.Count);
        var parameters = PngText.Read(pngs[0])["parameters"];
        Assert.StartsWith("a photo of sks dog\nNegative prompt: blurry\nSteps: 3, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 32x32, Model: sd15-tiny", parameters);
        using var sidecar = JsonDocument.Parse(File.ReadAllText(Path.ChangeExtension(pngs[1], ".json")));
        Assert.Equal(42UL, sidecar.RootElement.GetProperty("seed").GetUInt64());
        Assert.Equal(1, sidecar.RootElement.GetProperty("batch_index").GetInt32());
        Assert.Equal("EulerAncestralDiscreteScheduler", sidecar.RootElement.GetProperty("scheduler").GetString());
        Assert.True(File.Exists(Path.Combine(dir, "grid-42.png")));
        Assert.Contains("peak memory", output);
    }

    [Fact]
    public void Generate_SameSeedTwice_IdenticalPixels_OtherSeedDiffers()
    {
        string Run(string seed, string sub)
        {
            var outDir = Path.Combine(dir, sub);
            var (code, output) = CliRunner.Run("generate", "-p", "a photo of sks dog", "--seed", seed, "--steps", "2", "-o", outDir);
            Assert.True(code == 0, output);
            return Directory.GetFiles(outDir, "*.png").Single();
        }
        var a = ImageLoader.Load(Run("7", "a")).Pixels;
        var b = ImageLoader.Load(Run("7", "b")).Pixels;
        var c = ImageLoader.Load(Run("8", "c")).Pixels;
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void Generate_WithFixtureLora_Runs_AndBadSizeIsOneLineError()
    {
        var (code, output) = CliRunner.Run("generate", "-p", "a photo of sks dog", "--steps", "2", "--lora",
                                           Fixtures.Path("sd15-tiny", "lora", "kohya_lora.safetensors") + ":0.5", "-o", dir);
        Assert.True(code == 0, output);
        Assert.Contains("Lora: \"kohya_lora:0.5\"", PngText.Read(Directory.GetFiles(dir, "*.png").Single())["parameters"]);

        var (bad, message) = CliRunner.Run("generate", "-p", "x", "--width", "33", "--steps", "1", "-o", dir);
        Assert.Equal(1, bad);
        Assert.Contains("multiples of 2", message);
    }

    [Fact]
    public void Generate_UnknownScheduler_ListsValidNames()
    {
        var (code, output) = CliRunner.Run("generate", "-p", "x", "--scheduler", "warp-drive", "--steps", "1", "-o", dir);
        Assert.Equal(1, code);
        Assert.Contains("euler-a", output);
    }
}
