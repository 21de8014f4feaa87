namespace DreamBooth.Tests.Cli;

/// <summary>What a user gets wrong on the command line: each mistake is one readable line and the right exit code.</summary>
public sealed class CliErrorTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cli-errors").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private static string OneLineError((int Code, string Output) result, int expectedCode)
    {
        Assert.True(result.Code == expectedCode, $"exit {result.Code}: {result.Output}");
        var text = result.Output.Trim();
        Assert.StartsWith("error: ", text);
        Assert.Single(text.Split('\n'));
        return text;
    }

    // A '[' in a description is Spectre markup: help used to crash with exit 3 for generate and inspect.
    [Theory]
    [InlineData("inspect")]
    [InlineData("generate")]
    [InlineData("train")]
    [InlineData("check-data")]
    [InlineData("env")]
    public void Help_EveryCommand_ExitsZeroWithOptions(string command)
    {
        var (code, output) = CliRunner.Run(command, "--help");
        Assert.True(code == 0, output);
        Assert.Contains("--verbose", output);
    }

    [Fact]
    public void Generate_MistypedOption_UsageErrorSuggestsTheOption()
    {
        // Unknown options used to be ignored silently: --stpes 3 ran 50 steps into ./outputs.
        var text = OneLineError(CliRunner.Run("generate", "-p", "x", "--stpes", "3", "-o", dir), 2);
        Assert.Contains("'stpes'", text);
        Assert.Contains("did you mean --steps?", text);
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void Train_MistypedOption_SuggestsTheOption()
    {
        var text = OneLineError(CliRunner.Run("train", "--max-train-step", "3"), 2);
        Assert.Contains("did you mean --max-train-steps?", text);
    }

    [Theory]
    [InlineData("--steps", "abc", "--steps: 'abc' is not a whole number.")]
    [InlineData("--guidance-scale", "high", "--guidance-scale: 'high' is not a number.")]
    public void Generate_ValueOfWrongType_NamesTheOption(string option, string value, string expected)
    {
        var text = OneLineError(CliRunner.Run("generate", "-p", "x", option, value), 2);
        Assert.Equal("error: " + expected, text);
    }

    // Spectre calls an int? option's type "Nullable`1"; the message used to pass that on instead of naming the option.
    [Theory]
    [InlineData("generate", "--width", "a whole number")]
    [InlineData("train", "--resolution", "a whole number")]
    [InlineData("train", "--lora-alpha", "a number")]
    public void NullableNumberOption_ValueOfWrongType_NamesTheOption(string command, string option, string wanted)
    {
        var text = OneLineError(CliRunner.Run(command, option, "abc"), 2);
        Assert.Equal($"error: {option}: 'abc' is not {wanted}.", text);
    }

    [Theory]
    [InlineData("--width", "0")]
    [InlineData("--steps", "0")]
    [InlineData("--num-images", "0")]
    public void Generate_OutOfRange_UsageError(string option, string value) =>
        OneLineError(CliRunner.Run("generate", "-p", "x", option, value, "-o", dir), 2);

    [Fact]
    public void CheckData_ZeroResolution_UsageError()
    {
        var text = OneLineError(CliRunner.Run("check-data", Fixtures.RepoRoot, "--resolution", "0"), 2);
        Assert.Contains("--resolution", text);
    }

    [Fact]
    public void Generate_LoraScaleNotANumber_SaysSoBeforeLoading()
    {
        var lora = Fixtures.Path("sd15-tiny", "lora", "pytorch_lora_weights.safetensors");
        var text = OneLineError(CliRunner.Run("generate", "-p", "x", "--lora", lora + ":notanumber", "-o", dir), 1);
        Assert.Contains("the scale 'notanumber' is not a number", text);
    }

    [Fact]
    public void Generate_ModelFolderAsLora_PointsToModel()
    {
        var text = OneLineError(CliRunner.Run("generate", "-p", "x", "--lora", Fixtures.Path("sd15-tiny"), "-o", dir), 1);
        Assert.Contains("a model folder goes to --model", text);
    }

    [Fact]
    public void Generate_TrainingOutputFolderAsLora_UsesTheWeightsInside()
    {
        var trained = Directory.CreateDirectory(Path.Combine(dir, "sks-dog")).FullName;
        File.Copy(Fixtures.Path("sd15-tiny", "lora", "pytorch_lora_weights.safetensors"), Path.Combine(trained, "pytorch_lora_weights.safetensors"));
        var output = Path.Combine(dir, "out");
        var (code, text) = CliRunner.Run("generate", "-p", "x", "--steps", "1", "--seed", "1", "--lora", trained + ":0.5", "-o", output);
        Assert.True(code == 0, text);
        Assert.Single(Directory.GetFiles(output, "*.png"));
    }

    [Fact]
    public void Generate_SdxlLoraOnSd15_HintsAtTheBaseModel()
    {
        var lora = Fixtures.Path("sdxl-tiny", "lora", "pytorch_lora_weights.safetensors");
        var text = OneLineError(CliRunner.Run("generate", "-p", "x", "--steps", "1", "--lora", lora, "-o", dir), 1);
        Assert.Contains("needs [4, 32]", text);
        Assert.Contains("another base model", text);
    }

    [Fact]
    public void Generate_OutputIsAFile_Exit1()
    {
        var file = Path.Combine(dir, "taken.png");
        File.WriteAllText(file, "");
        var text = OneLineError(CliRunner.Run("generate", "-p", "x", "--steps", "1", "-o", file), 1);
        Assert.Contains("is a file, not a folder", text);
    }

    [Fact]
    public void Generate_PromptsFileIsAFolder_Exit1()
    {
        var text = OneLineError(CliRunner.Run("generate", "--prompts-file", dir, "-o", dir), 1);
        Assert.Contains("is a folder, not a text file", text);
    }

    [Fact]
    public void Generate_Cancelled_Exit130AndNoImage()
    {
        // What Ctrl-C does: the CLI cancels the token, generation stops between steps and nothing is written.
        var result = CliRunner.Run(new CancellationToken(canceled: true), "generate", "-p", "x", "--steps", "3", "-o", dir);
        Assert.Equal("error: cancelled", OneLineError(result, 130));
        Assert.Empty(Directory.GetFiles(dir));
    }

    [Fact]
    public void Inspect_LoraFile_ShowsNamingRankAndModules()
    {
        var (code, output) = CliRunner.Run("inspect", Fixtures.Path("sdxl-tiny", "lora", "kohya_lora.safetensors"), "--json");
        Assert.True(code == 0, output);
        Assert.Contains("LoRA (kohya naming, rank 4, 136 modules)", output);
        Assert.DoesNotContain("\"other\"", output);
    }

    private string Photos()
    {
        var photos = Directory.CreateDirectory(Path.Combine(dir, "photos")).FullName;
        File.Copy(Path.Combine(Fixtures.RepoRoot, "samples", "dog", "00.jpg"), Path.Combine(photos, "00.jpg"), overwrite: true);
        return photos;
    }

    private (int, string) Train(params string[] extra) =>
        CliRunner.Run(["train", "--instance-data-dir", Photos(), "--instance-prompt", "sks dog", "--output-dir", Path.Combine(dir, "out"), .. extra]);

    [Theory]
    [InlineData("--lora-alpha", "-1", "--lora-alpha must be positive")]
    [InlineData("--num-validation-images", "0", "--num-validation-images must be at least 1")]
    [InlineData("--prior-loss-weight", "-1", "--prior-loss-weight must be 0 or more")]
    public void Train_OutOfRange_RefusedBeforeLoading(string option, string value, string expected)
    {
        var text = OneLineError(Train(option, value, "--validation-prompt", "sks dog", "--with-prior-preservation",
                                      "--class-data-dir", Path.Combine(dir, "class"), "--class-prompt", "dog"), 1);
        Assert.Contains(expected, text);
        Assert.False(Directory.Exists(Path.Combine(dir, "out")));
    }

    // The library names options by key (lr_scheduler); the CLI user reads the flag.
    [Theory]
    [InlineData("--lr-scheduler", "piecewise_constant", "error: --lr-scheduler must be constant, constant_with_warmup, linear, cosine, cosine_with_restarts or polynomial, not 'piecewise_constant'.")]
    [InlineData("--adam-beta1", "1.5", "error: --adam-beta1 must be in [0, 1), not 1.5.")]
    [InlineData("--class-inference-steps", "0", "error: --class-inference-steps must be at least 1, not 0.")]
    public void Train_DeclaredCheck_NamesTheFlagBeforeLoading(string option, string value, string expected)
    {
        var text = OneLineError(Train(option, value, "--with-prior-preservation", "--class-data-dir", Path.Combine(dir, "class"), "--class-prompt", "dog"), 1);
        Assert.Equal(expected, text);
        Assert.False(Directory.Exists(Path.Combine(dir, "out")));
    }

    [Fact]
    public void Train_PathsOfTheWrongKind_Exit1()
    {
        var file = Path.Combine(dir, "file.txt");
        File.WriteAllText(file, "");
        Assert.Contains("is a file; give the folder", OneLineError(CliRunner.Run("train", "--instance-data-dir", file, "--instance-prompt", "x"), 1));
        Assert.Contains("--output-dir", OneLineError(Train("--output-dir", file), 1));
        Assert.Contains("--class-data-dir", OneLineError(Train("--with-prior-preservation", "--class-data-dir", file, "--class-prompt", "dog"), 1));
    }

    [Fact]
    public void Train_ModelAlias_AcceptedLikeGenerate()
    {
        var text = OneLineError(Train("-m", Path.Combine(dir, "no-such-model")), 1);
        Assert.Contains("does not exist", text);
    }

    [Fact]
    public void Train_ConfigWithMistypedKey_SuggestsTheKey()
    {
        var config = Path.Combine(dir, "train.yaml");
        File.WriteAllText(config, "instance_prompt: sks dog\nmax_train_step: 3\n");
        var text = OneLineError(CliRunner.Run("train", "--config", config), 1);
        Assert.Contains("unknown option 'max_train_step' (did you mean 'max_train_steps'?)", text);
    }

    [Theory]
    [InlineData("max_train_steps: abc", "'max_train_steps' must be a whole number.")]
    [InlineData("method: lorra", "'method' must be lora or full.")]
    public void Train_ConfigValueOfWrongType_NamesTheKey(string line, string expected)
    {
        var config = Path.Combine(dir, "train.yaml");
        File.WriteAllText(config, line + "\n");
        var text = OneLineError(CliRunner.Run("train", "--config", config), 1);
        Assert.EndsWith(expected, text);
        Assert.DoesNotContain("System.", text);
    }
}
