namespace DreamBooth.Tests.Training;

using DreamBooth.Training;

public sealed class TrainOptionsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("train-options").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void LoadConfig_Yaml_SnakeAndKebabKeysTyped()
    {
        var path = Path.Combine(dir, "train.yaml");
        File.WriteAllText(path, """
            method: full
            instance-data-dir: photos
            instance_prompt: a photo of sks dog
            with_prior_preservation: true
            learning_rate: 2.0e-6
            max_train_steps: 400
            lora_target_modules: [to_q, to_v]
            seed: 42
            """);
        var o = TrainOptions.LoadConfig(path);
        Assert.Equal(TrainMethod.Full, o.Method);
        Assert.Equal("photos", o.InstanceDataDir);
        Assert.True(o.WithPriorPreservation);
        Assert.Equal(2e-6, o.EffectiveLearningRate);
        Assert.Equal(400, o.EffectiveMaxTrainSteps);
        Assert.Equal(["to_q", "to_v"], o.LoraTargetModules);
        Assert.Equal(42UL, o.Seed);
    }

    [Fact]
    public void LoadConfig_Json_AndUnknownKeyIsAnError()
    {
        var path = Path.Combine(dir, "train.json");
        File.WriteAllText(path, """{ "instance_data_dir": "x", "rank": 8, "lora_alpha": 16 }""");
        var o = TrainOptions.LoadConfig(path);
        Assert.Equal(8, o.Rank);
        Assert.Equal(16, o.EffectiveLoraAlpha);
        Assert.Equal(1e-4, o.EffectiveLearningRate);                 // LoRA default
        Assert.Equal(500, o.EffectiveMaxTrainSteps);

        File.WriteAllText(path, """{ "learning_rat": 1e-4 }""");
        var e = Assert.Throws<DreamBoothException>(() => TrainOptions.LoadConfig(path));
        Assert.Contains("learning_rat", e.Message);
    }

    [Fact]
    public void Defaults_FullFineTune_AreTheTutorials()
    {
        var o = new TrainOptions { Method = TrainMethod.Full };
        Assert.Equal(5e-6, o.EffectiveLearningRate);
        Assert.Equal(300, o.EffectiveMaxTrainSteps);
        Assert.Equal(2, o.TrainBatchSize);
        Assert.Equal(2, o.GradientAccumulationSteps);
        Assert.Equal(0.5, o.PriorLossWeight);
    }

    [Theory]
    [InlineData("with_prior_preservation needs class_data_dir")]   // keys: the CLI names them as flags
    public void Validated_PriorWithoutClassDir_ClearError(string expected)
    {
        var o = new TrainOptions { InstanceDataDir = dir, InstancePrompt = "a photo of sks dog", WithPriorPreservation = true };
        var e = Assert.Throws<TrainOptionException>(() => o.Validated());
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData("piecewise_constant")]
    [InlineData("Piecewise-Constant")]
    public void Validated_PiecewiseConstantScheduler_RejectedBeforeTheModelLoads(string name)
    {
        // It used to pass validation and fail in the trainer, after the model had loaded: it needs step rules.
        var o = new TrainOptions { InstanceDataDir = dir, InstancePrompt = "a photo of sks dog", LrScheduler = name };
        var e = Assert.ThrowsAny<DreamBoothException>(() => o.Validated());
        Assert.Contains(name, e.Message);
        (o with { LrScheduler = "cosine" }).Validated();
    }

    [Theory]
    [InlineData("Infinity")]
    [InlineData("nan")]
    [InlineData("-infinity")]
    public void LoadConfig_YamlWordThatParsesAsNonFiniteNumber_StaysAString(string prompt)
    {
        // .NET's double parser accepts these words; JSON has no NaN/Infinity, so they must stay text.
        var path = Path.Combine(dir, "train.yaml");
        File.WriteAllText(path, $"instance_prompt: {prompt}\n");
        Assert.Equal(prompt, TrainOptions.LoadConfig(path).InstancePrompt);
    }
}
