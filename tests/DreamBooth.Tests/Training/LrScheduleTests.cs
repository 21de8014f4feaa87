namespace DreamBooth.Tests.Training;

using DreamBooth.Training;

public sealed class LrScheduleTests
{
    // Warm-up 10, training 100 everywhere; expected values worked out by hand from diffusers' lambdas.
    [Theory]
    [InlineData("constant", 0, 1.0)]
    [InlineData("constant", 5, 1.0)]
    [InlineData("constant", 1000, 1.0)]
    [InlineData("constant_with_warmup", 0, 0.0)]
    [InlineData("constant_with_warmup", 5, 0.5)]
    [InlineData("constant_with_warmup", 10, 1.0)]
    [InlineData("constant_with_warmup", 500, 1.0)]
    [InlineData("linear", 0, 0.0)]
    [InlineData("linear", 3, 0.3)]
    [InlineData("linear", 10, 1.0)]
    [InlineData("linear", 55, 0.5)]   // (100 - 55) / 90
    [InlineData("linear", 82, 0.2)]   // 18 / 90
    [InlineData("linear", 100, 0.0)]
    [InlineData("linear", 150, 0.0)]  // clamped at 0
    [InlineData("cosine", 0, 0.0)]
    [InlineData("cosine", 10, 1.0)]
    [InlineData("cosine", 40, 0.75)]  // progress 1/3: 0.5 (1 + cos(π/3))
    [InlineData("cosine", 55, 0.5)]   // progress 1/2: 0.5 (1 + cos(π/2))
    [InlineData("cosine", 100, 0.0)]  // progress 1: 0.5 (1 + cos π)
    [InlineData("cosine", 145, 0.5)]  // diffusers' half cosine rises again after the end: 0.5 (1 + cos 1.5π)
    public void Factor_WarmupTenOfHundred_MatchesDiffusers(string name, int step, double expected)
    {
        var schedule = new LrSchedule(name, warmupSteps: 10, trainingSteps: 100);
        Assert.Equal(expected, schedule.Factor(step), 12);
    }

    [Theory]
    [InlineData(0, 0.0)]
    [InlineData(10, 1.0)]
    [InlineData(25, 0.5)]               // progress 1/6, ×3 cycles = 0.5: 0.5 (1 + cos(π/2))
    [InlineData(46, 0.904508497187474)] // progress 0.4, ×3 = 1.2 → 0.2: 0.5 (1 + cos 0.2π) = 0.5 (1 + 0.80901699…)
    [InlineData(100, 0.0)]              // progress ≥ 1 → 0
    [InlineData(120, 0.0)]
    public void Factor_CosineWithThreeRestarts_MatchesDiffusers(int step, double expected)
    {
        var schedule = new LrSchedule("cosine_with_restarts", warmupSteps: 10, trainingSteps: 100, numCycles: 3);
        Assert.Equal(expected, schedule.Factor(step), 12);
    }

    [Theory]
    [InlineData(1.0, 0, 0.0)]
    [InlineData(1.0, 5, 0.5)]
    [InlineData(1.0, 10, 1.0)]
    [InlineData(1.0, 55, 0.5005)]   // ((1e-4 - 1e-7) · 0.5 + 1e-7) / 1e-4
    [InlineData(2.0, 55, 0.25075)]  // ((1e-4 - 1e-7) · 0.25 + 1e-7) / 1e-4
    [InlineData(1.0, 100, 0.001)]   // lr_end / lr
    [InlineData(1.0, 150, 0.001)]
    public void Factor_Polynomial_DecaysToLrEnd(double power, int step, double expected)
    {
        var schedule = new LrSchedule("polynomial", warmupSteps: 10, trainingSteps: 100, power: power, learningRate: 1e-4);
        Assert.Equal(expected, schedule.Factor(step), 12);
        Assert.Equal(1e-4 * expected, schedule.LearningRateAt(step), tolerance: 1e-16);
    }

    [Theory]
    [InlineData(0, 1.0)]
    [InlineData(9, 1.0)]
    [InlineData(10, 0.1)]
    [InlineData(19, 0.1)]
    [InlineData(20, 0.01)]
    [InlineData(1000, 0.01)]
    public void Factor_PiecewiseConstant_FollowsStepRules(int step, double expected)
    {
        var schedule = new LrSchedule("piecewise_constant", stepRules: "1:10,0.1:20,0.01");
        Assert.Equal(expected, schedule.Factor(step));
    }

    [Fact]
    public void Factor_LinearWithoutWarmup_StartsAtOne()
    {
        var schedule = new LrSchedule("linear", warmupSteps: 0, trainingSteps: 4);
        Assert.Equal([1.0, 0.75, 0.5, 0.25, 0.0], Enumerable.Range(0, 5).Select(schedule.Factor));
    }

    [Fact]
    public void Parse_KnownNamesAnySpelling_AreCanonical()
    {
        Assert.Equal("cosine_with_restarts", LrSchedule.Parse("Cosine-With-Restarts"));
        Assert.Equal("constant", LrSchedule.Parse(" constant "));
    }

    [Fact]
    public void Parse_UnknownName_ListsValidNames()
    {
        var e = Assert.Throws<DreamBoothException>(() => LrSchedule.Parse("cosine_annealing"));
        Assert.Contains("'cosine_annealing'", e.Message);
        foreach (var name in LrSchedule.Names) Assert.Contains(name, e.Message);
    }

    [Fact]
    public void Constructor_PolynomialEndAboveLearningRate_Throws()
    {
        Assert.Throws<DreamBoothException>(() => new LrSchedule("polynomial", 0, 100, learningRate: 1e-8));
        Assert.Throws<DreamBoothException>(() => new LrSchedule("piecewise_constant"));
        Assert.Throws<DreamBoothException>(() => new LrSchedule("piecewise_constant", stepRules: "1:x,0.1"));
    }
}
