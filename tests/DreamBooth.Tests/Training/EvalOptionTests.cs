namespace DreamBooth.Tests.Training;

using DreamBooth.Training;

/// <summary>What --eval-at-checkpoints needs: the subject's identifier and class noun, derived from the prompts or given.</summary>
public sealed class EvalOptionTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("eval-options").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private TrainOptions Options(string instancePrompt) => new()
    {
        InstanceDataDir = dir, InstancePrompt = instancePrompt, OutputDir = Path.Combine(dir, "out"), EvalAtCheckpoints = true,
    };

    [Fact]
    public void EvalSubject_DerivedFromTheInstancePrompt()
    {
        Assert.Equal(("sks", "dog"), Options("a photo of sks dog").EvalSubject());
        Assert.Equal(("sks", "backpack"), Options("a photo of sks backpack, on a table").EvalSubject());
    }

    [Fact]
    public void EvalSubject_IdentifierIsTheWordTheClassPromptLacks()
    {
        var o = Options("a photo of ohwx man") with { WithPriorPreservation = true, ClassDataDir = Path.Combine(dir, "class"), ClassPrompt = "a photo of man" };
        Assert.Equal(("ohwx", "man"), o.EvalSubject());
    }

    [Fact]
    public void EvalSubject_GivenValuesWin()
    {
        Assert.Equal(("zwx", "cat"), (Options("zwx") with { Identifier = "zwx", ClassNoun = "cat" }).EvalSubject());
        Assert.Equal(("zwx", "toy"), (Options("a zwx toy") with { Identifier = "zwx" }).EvalSubject());
    }

    [Fact]
    public void Validated_UnknownClassNoun_NamesTheOptionToGive()
    {
        var e = Assert.Throws<TrainOptionException>(() => Options("a photo of a dog").Validated());
        Assert.Contains("class_noun", e.Message);
        Assert.Contains("'sks'", e.Message);
        (Options("a photo of a dog") with { EvalAtCheckpoints = false }).Validated();
    }

    [Fact]
    public void Validated_MissingPromptFile_IsAnError_OnlyWhenEvaluating()
    {
        var o = Options("a photo of sks dog") with { EvalPrompts = Path.Combine(dir, "none.txt") };
        Assert.Contains("eval_prompts", Assert.Throws<TrainOptionException>(() => o.Validated()).Message);
        (o with { EvalAtCheckpoints = false }).Validated();
    }
}
