namespace DreamBooth.Tests.Cli;

using System.Text.Json;
using System.Text.RegularExpressions;
using DreamBooth.Tests.IO;

public sealed partial class InspectCommandTests
{
    // The fixtures' README states each tiny pipeline's parameter counts, e.g. "unet 1,388,548 params".
    private static Dictionary<string, long> ReadmeCounts(string pipeline)
    {
        var readme = File.ReadAllText(Fixtures.Path("README.md"));
        var row = readme.Split('\n').First(l => l.StartsWith($"| `{pipeline}`", StringComparison.Ordinal));
        return CountPattern().Matches(row).ToDictionary(m => m.Groups[1].Value, m => long.Parse(m.Groups[2].Value.Replace(",", "")));
    }

    [GeneratedRegex(@"(\w+) ([\d,]+) params")]
    private static partial Regex CountPattern();

    [Theory]
    [InlineData("sd15-tiny")]
    [InlineData("sd2-tiny-v")]
    [InlineData("sdxl-tiny")]
    public void Inspect_Json_ParameterCountsEqualFixtureFigures(string pipeline)
    {
        var (code, output) = CliRunner.Run("inspect", Fixtures.Path(pipeline), "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var components = doc.RootElement.GetProperty("components").EnumerateArray()
            .ToDictionary(c => c.GetProperty("name").GetString()!, c => c);
        var expected = ReadmeCounts(pipeline);
        Assert.NotEmpty(expected);
        foreach (var (name, count) in expected)
        {
            Assert.Equal(count, components[name].GetProperty("parameters").GetInt64());
            Assert.Equal(["F32"], components[name].GetProperty("dtypes").EnumerateArray().Select(d => d.GetString()));
            Assert.True(components[name].GetProperty("bytes").GetInt64() > count * 4 - 1);
        }
        Assert.Equal("UNet2DConditionModel", components["unet"].GetProperty("class").GetString());
    }

    [Fact]
    public void Inspect_Table_ShowsEveryComponent()
    {
        var (code, output) = CliRunner.Run("inspect", Fixtures.Path("sd15-tiny"));
        Assert.Equal(0, code);
        foreach (var word in new[] { "unet", "vae", "text_encoder", "tokenizer", "scheduler", "PNDMScheduler", "1,388,548" })
            Assert.Contains(word, output);
    }

    [Fact]
    public void Inspect_MissingModel_OneLineErrorExit1()
    {
        var (code, output) = CliRunner.Run("inspect", "/definitely/not/here");
        Assert.Equal(1, code);
        Assert.StartsWith("error: Model path '/definitely/not/here'", output.Trim());
        Assert.Single(output.Trim().Split('\n'));
    }

    [Fact]
    public void Inspect_Verbose_AddsStackTrace()
    {
        var (code, output) = CliRunner.Run("inspect", "/definitely/not/here", "--verbose");
        Assert.Equal(1, code);
        Assert.Contains("   at ", output);
    }

    [Fact]
    public void NoArgument_UsageErrorExit2()
    {
        var (code, output) = CliRunner.Run("inspect");
        Assert.Equal(2, code);
        Assert.Contains("missing required argument", output);
    }

    [Fact]
    public void Version_PrintsVersion()
    {
        var (code, output) = CliRunner.Run("--version");
        Assert.Equal(0, code);
        Assert.Matches(@"^\d+\.\d+\.\d+", output.Trim());
    }

    [Fact]
    public void Help_ListsInspect()
    {
        var (code, output) = CliRunner.Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("inspect", output);
    }

    [Fact]
    public void Inspect_EveryMalformedSingleFile_ExitCode1OneLine()
    {
        var dir = Directory.CreateTempSubdirectory("inspect-bad").FullName;
        try
        {
            int n = 0;
            foreach (var (kind, bytes, _) in MalformedSafeTensors.Corpus())
            {
                var path = Path.Combine(dir, $"bad{n++}.safetensors");
                File.WriteAllBytes(path, bytes);
                var (code, output) = CliRunner.Run("inspect", path);
                Assert.True(code is 1 or 2, $"{kind}: exit {code}");
                Assert.StartsWith("error: ", output);
                Assert.Single(output.Trim().Split('\n'));
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Inspect_MalformedWeightsInPipelineFolder_ExitCode1()
    {
        var dir = Directory.CreateTempSubdirectory("inspect-badpipe").FullName;
        try
        {
            CopyDir(Fixtures.Path("sd15-tiny"), dir);
            File.WriteAllBytes(Path.Combine(dir, "vae", "diffusion_pytorch_model.safetensors"), MalformedSafeTensors.Corpus().First(c => c.Kind == "shape/size mismatch").Bytes);
            var (code, output) = CliRunner.Run("inspect", dir);
            Assert.Equal(1, code);
            Assert.Contains("vae", output);
            Assert.Contains("needs 12 bytes", output);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    internal static void CopyDir(string from, string to)
    {
        foreach (var d in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, d)));
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(f, Path.Combine(to, Path.GetRelativePath(from, f)));
    }
}
