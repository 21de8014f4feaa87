namespace DreamBooth.Tests.Cli;

using DreamBooth.Pipelines;

public sealed class ToyWorldPretrainCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("toyworld-cli").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void Pretrain_FewTinySteps_LoadsAndGenerates()
    {
        var output = Path.Combine(dir, "base");
        var (code, text) = CliRunner.Run("toyworld", "pretrain", "--output", output, "--steps", "2", "--vae-steps", "2",
                                          "--batch-size", "2", "--seed", "3", "--tiny");
        Assert.True(code == 0, text);
        Assert.Contains("text-to-image loss", text);
        Assert.Contains("Done", text);
        using var pipe = PipelineLoader.Load(output);
        using var result = pipe.Generate(new GenerationRequest { Prompt = "a photo of a green star on a white background", Steps = 2, Seed = 4 });
        Assert.Equal([1L, 3, 32, 32], result.Images.shape);
    }

    [Fact]
    public void Pretrain_BadImageSize_IsAnInputError()
    {
        var (code, text) = CliRunner.Run("toyworld", "pretrain", "--output", Path.Combine(dir, "x"), "--image-size", "40");
        Assert.Equal(1, code);
        Assert.Contains("32 or 64", text);
    }
}
