namespace DreamBooth.Tests.Cli;

using System.Runtime.InteropServices;
using DreamBooth.Tests.Imaging;

/// <summary>Hostile input on the command line: no hang, no unbounded growth, one line and the right exit code.</summary>
public sealed partial class HardeningTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cli-hardening").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private static string OneLineError((int Code, string Output) result, int expectedCode)
    {
        Assert.True(result.Code == expectedCode, $"exit {result.Code}: {result.Output}");
        var text = result.Output.Trim();
        Assert.StartsWith("error: ", text);
        Assert.Single(text.Split('\n'));
        return text;
    }

    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkFifo(string path, uint mode);

    // Runs the CLI on another thread: a hang fails the test after the timeout instead of blocking the suite.
    private static (int Code, string Output) RunBounded(TimeSpan timeout, params string[] args)
    {
        var run = Task.Factory.StartNew(() => CliRunner.Run(args), TaskCreationOptions.LongRunning);
        Assert.True(run.Wait(timeout), $"dreambooth {string.Join(' ', args)} still running after {timeout.TotalSeconds} s");
        return run.Result;
    }

    private string ImageFolderWith(string name, Action<string> make)
    {
        var photos = Directory.CreateDirectory(Path.Combine(dir, "photos")).FullName;
        File.WriteAllBytes(Path.Combine(photos, "a.jpg"), TestImages.Jpeg(TestImages.Pattern(64, 64)));
        make(Path.Combine(photos, name));
        return photos;
    }

    [Fact]
    public void CheckData_NamedPipeInFolder_ReportedWithoutBlocking()
    {
        var photos = ImageFolderWith("pipe.jpg", p => Assert.Equal(0, MkFifo(p, 0b110_100_100)));
        var (code, output) = RunBounded(TimeSpan.FromSeconds(60), "check-data", photos);
        Assert.True(code == 1, output);
        Assert.Contains("not a regular file (a named pipe)", output);
    }

    [Fact]
    public void CheckData_ImageLinkedToDevZero_RefusedWithoutReadingIt()
    {
        var photos = ImageFolderWith("zero.jpg", p => File.CreateSymbolicLink(p, "/dev/zero"));
        var (code, output) = RunBounded(TimeSpan.FromSeconds(60), "check-data", photos);
        Assert.True(code == 1, output);
        Assert.Contains("not a regular file (a character device)", output);
    }

    [Theory]
    [InlineData("env")]
    [InlineData("demo")]
    [InlineData("toyworld", "pretrain")]
    [InlineData("toyworld", "pretrain-clip")]
    [InlineData("toyworld", "evaluate")]
    public void Threads_MoreThanCores_UsageErrorNamingTheCoreCount(params string[] command)
    {
        var text = OneLineError(CliRunner.Run([.. command, "--threads", "1000"]), 2);
        Assert.Contains($"between 0 (libtorch's choice) and {Environment.ProcessorCount}", text);
    }

    [Fact]
    public void Generate_GuidanceNaN_UsageErrorBeforeAnyImage()
    {
        var text = OneLineError(CliRunner.Run("generate", "-p", "x", "-g", "nan", "--steps", "1", "-o", dir), 2);
        Assert.Contains("--guidance-scale must be a finite number", text);
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void Generate_EmptyPrompt_GeneratesUnconditionally()
    {
        var (code, output) = CliRunner.Run("generate", "-m", Fixtures.Path("sd15-tiny"), "-p", "", "--seed", "1", "--steps", "1", "-o", dir);
        Assert.True(code == 0, output);
        Assert.Single(Directory.GetFiles(dir, "*.png"));
    }

    [Fact]
    public void Generate_PromptsFileWithNul_RefusedBeforeGenerating()
    {
        var file = Path.Combine(dir, "prompts.txt");
        File.WriteAllText(file, "a dog\n\0\0binary\n");
        var output = Path.Combine(dir, "out");
        var text = OneLineError(CliRunner.Run("generate", "-m", Fixtures.Path("sd15-tiny"), "--prompts-file", file, "--steps", "1", "-o", output), 1);
        Assert.Contains("contains a NUL byte", text);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void Train_OptionalNumberNotANumber_NamesTheOptionAndType()
    {
        var text = OneLineError(CliRunner.Run("train", "--max-train-steps", "abc"), 2);
        Assert.Equal("error: --max-train-steps: 'abc' is not a whole number.", text);
    }

    [Theory]
    [InlineData("-W", "100000", "-H", "100000")]
    [InlineData("--num-images", "10000000", "--seed", "1")]
    public void Generate_WorkThatCannotFitInMemory_RefusedWithTheEstimate(params string[] extra)
    {
        var text = OneLineError(CliRunner.Run(["generate", "-m", Fixtures.Path("sd15-tiny"), "-p", "x", "--steps", "1", "-o", dir, .. extra]), 1);
        Assert.Matches(@"need at least [\d.,]+ GiB of memory, more than the [\d.,]+ GiB here", text);
        Assert.Empty(Directory.GetFiles(dir));
    }

    // The fixture LoRA with its first tensor overwritten by one value.
    private (string Path, string Key) LoraWith(float value)
    {
        var path = Path.Combine(dir, "bad_lora.safetensors");
        File.Copy(Fixtures.Path("sd15-tiny", "lora", "pytorch_lora_weights.safetensors"), path);
        DreamBooth.IO.SafeTensorInfo first;
        using (var file = DreamBooth.IO.SafeTensorsFile.Open(path)) first = file.Tensors.OrderBy(t => t.Start).First();
        Assert.Equal("F32", first.Dtype);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write);
        stream.Position = first.Start;
        for (long i = first.Start; i < first.End; i += 4) stream.Write(BitConverter.GetBytes(value));
        return (path, first.Name);
    }

    [Theory]
    [InlineData(float.NaN, "contains NaN or infinite values")]
    [InlineData(float.PositiveInfinity, "contains NaN or infinite values")]
    [InlineData(1e38f, "holds values up to 1e+38")]
    public void Generate_LoraWithNonFiniteOrHugeValues_RefusedNamingTheKey(float value, string expected)
    {
        var (lora, key) = LoraWith(value);
        var output = Path.Combine(dir, "out");
        var text = OneLineError(CliRunner.Run("generate", "-m", Fixtures.Path("sd15-tiny"), "-p", "x", "--steps", "1", "--lora", lora, "-o", output), 1);
        Assert.Contains($"LoRA tensor '{key}' {expected}", text);
        Assert.False(Directory.Exists(output) && Directory.EnumerateFiles(output).Any());
    }

    [Fact]
    public void CheckData_FileNameWithEscapeSequences_PrintedEscaped()
    {
        var photos = ImageFolderWith("\u001b]0;pwned\u0007\u001b[31m.jpg", p => File.WriteAllText(p, "not an image"));
        var (code, output) = CliRunner.Run("check-data", photos);
        Assert.True(code == 1, output);
        Assert.DoesNotContain('\u001b', output);
        Assert.DoesNotContain('\u0007', output);
        Assert.Contains("\\e]0;pwned\\a\\e[31m.jpg", output);
    }

    [Fact]
    public void Error_MessageWithControlCharacters_OneEscapedLine()
    {
        var text = OneLineError(CliRunner.Run("generate", "-m", Path.Combine(dir, "no\u001b[2Jmodel\rhere"), "-p", "x", "-o", dir), 1);
        Assert.DoesNotContain('\u001b', text);
        Assert.DoesNotContain('\r', text);
        Assert.Contains("no\\e[2Jmodel\\rhere", text);
    }
}
