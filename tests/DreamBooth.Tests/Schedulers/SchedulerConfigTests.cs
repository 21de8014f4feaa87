namespace DreamBooth.Tests.Schedulers;

using DreamBooth.Schedulers;

public sealed class SchedulerConfigTests
{
    [Fact]
    public void Load_PipelineConfig_KeepsExplicitKeysOnly()
    {
        var config = SchedulerConfig.Load(Fixtures.Path("sd15-tiny", "scheduler", "scheduler_config.json"));
        Assert.Equal("PNDMScheduler", config.ClassName);
        Assert.Equal(0.00085, config.BetaStart);
        Assert.Equal("scaled_linear", config.BetaSchedule);
        Assert.True(config.SkipPrkSteps);
        Assert.Null(config.TimestepSpacing);
        Assert.Null(config.PredictionType);
        Assert.Null(config.TrainedBetas);
        Assert.Empty(config.DefaultedKeys);
    }

    [Fact]
    public void Parse_PythonInfinityAndUnknownKeys_RoundTrip()
    {
        // diffusers writes lambda_min_clipped = -inf as a bare -Infinity (Python's json); strings stay untouched.
        var config = SchedulerConfig.Parse("""
            { "_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity,
              "algorithm_type": "dpmsolver++", "note": "-Infinity NaN", "custom_key": [1, 2] }
            """);
        Assert.Equal(double.NegativeInfinity, config.LambdaMinClipped);
        Assert.Equal("\"-Infinity NaN\"", config.OtherKeys!["note"].GetRawText());
        var json = config.ToJsonObject();
        Assert.Equal("-Infinity", json["lambda_min_clipped"]!.GetValue<string>());
        Assert.Equal("[1,2]", json["custom_key"]!.ToJsonString());
    }

    [Fact]
    public void Load_WrongType_NamesFileAndKey()
    {
        var path = Path.Combine(Path.GetTempPath(), $"sched-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{ "num_train_timesteps": "many" }""");
        try
        {
            var e = Assert.Throws<DreamBoothException>(() => SchedulerConfig.Load(path));
            Assert.Contains(path, e.Message);
            Assert.Contains("num_train_timesteps", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Resolve_AbsentKeys_TakeClassDefaultsAndAreListed()
    {
        using var euler = new EulerDiscreteScheduler(new SchedulerConfig { BetaSchedule = "scaled_linear", BetaStart = 0.00085, BetaEnd = 0.012 });
        Assert.Equal("linspace", euler.Config.TimestepSpacing);
        Assert.Equal("epsilon", euler.Config.PredictionType);
        Assert.Contains("timestep_spacing", euler.Config.DefaultedKeys);
        Assert.DoesNotContain("beta_schedule", euler.Config.DefaultedKeys);
        Assert.Equal("EulerDiscreteScheduler", euler.Config.ClassName);
    }

    [Fact]
    public void Constructor_UnsupportedValues_ThrowReadableErrors()
    {
        Assert.Contains("prediction_type 'x0'", Assert.Throws<DreamBoothException>(() => new DDIMScheduler(new SchedulerConfig { PredictionType = "x0" })).Message);
        Assert.Contains("beta_schedule 'cubic'", Assert.Throws<DreamBoothException>(() => new EulerDiscreteScheduler(new SchedulerConfig { BetaSchedule = "cubic" })).Message);
        Assert.Contains("sample", Assert.Throws<DreamBoothException>(() => new EulerAncestralDiscreteScheduler(new SchedulerConfig { PredictionType = "sample" })).Message);
        using var ddim = new DDIMScheduler(new SchedulerConfig { TimestepSpacing = "uniform" });
        Assert.Contains("timestep_spacing 'uniform'", Assert.Throws<DreamBoothException>(() => ddim.SetTimesteps(10)).Message);
        Assert.Contains("exceed", Assert.Throws<DreamBoothException>(() => ddim.SetTimesteps(1001)).Message);
    }
}
