namespace DreamBooth.Tests.Schedulers;

using DreamBooth.Schedulers;

/// <summary>The one scheduler → A1111 sampler-name table (moved from the CLI into the library).</summary>
public sealed class SamplerNamesTests
{
    [Theory]
    [InlineData(nameof(EulerAncestralDiscreteScheduler), "Euler a")]
    [InlineData(nameof(EulerDiscreteScheduler), "Euler")]
    [InlineData(nameof(DDIMScheduler), "DDIM")]
    [InlineData(nameof(PNDMScheduler), "PLMS")]
    [InlineData(nameof(DPMSolverMultistepScheduler), "DPM++ 2M")]
    [InlineData(nameof(LMSDiscreteScheduler), "LMS")]
    [InlineData(nameof(DDPMScheduler), "DDPM")]
    [InlineData("UniPCMultistepScheduler", "UniPCMultistepScheduler")]   // not ours: the class name stands in
    public void A1111_NamesEachClass(string schedulerClass, string sampler) =>
        Assert.Equal(sampler, SamplerNames.A1111(schedulerClass));

    [Fact]
    public void A1111_EveryRegisteredSchedulerHasItsOwnName()
    {
        var classes = SchedulerRegistry.Names.Where(n => n.EndsWith("Scheduler", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(classes);
        Assert.All(classes, c => Assert.NotEqual(c, SamplerNames.A1111(c)));
        Assert.Equal(classes.Count, classes.Select(SamplerNames.A1111).Distinct().Count());
    }
}
