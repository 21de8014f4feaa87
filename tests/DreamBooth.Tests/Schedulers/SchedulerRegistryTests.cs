namespace DreamBooth.Tests.Schedulers;

using DreamBooth.Schedulers;

/// <summary>Scheduler swaps by name, resolved like diffusers' <c>Cls.from_config(pipe.scheduler.config)</c>.</summary>
public sealed class SchedulerRegistryTests
{
    public static TheoryData<string, string> FixtureCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var pipeline in Fixtures.Pipelines)
            foreach (var scheduler in SchedulerReference.Schedulers)
                data.Add(pipeline, scheduler);
        return data;
    }

    [Theory]
    [MemberData(nameof(FixtureCases))]
    public void Create_FromPipelineConfig_ResolvesLikeDiffusers(string pipeline, string scheduler)
    {
        var reference = SchedulerReference.For(pipeline);
        using var s = SchedulerRegistry.Create(scheduler + "Scheduler", reference.SourceConfig);
        foreach (var n in SchedulerReference.StepCounts)
            ConfigAssert.Equal(reference.Case(scheduler, n)["resolved_config"]!.AsObject(), s.Config, $"{pipeline} {scheduler}");
        Assert.Equal(scheduler + "Scheduler", s.Config.ClassName);
        Assert.Equal(scheduler + "Scheduler", s.GetType().Name);
    }

    [Theory]
    [InlineData("ddpm", nameof(DDPMScheduler))]
    [InlineData("DDIM", nameof(DDIMScheduler))]
    [InlineData("pndm", nameof(PNDMScheduler))]
    [InlineData("euler", nameof(EulerDiscreteScheduler))]
    [InlineData("euler-a", nameof(EulerAncestralDiscreteScheduler))]
    [InlineData("euler_a", nameof(EulerAncestralDiscreteScheduler))]
    [InlineData("dpm++2m", nameof(DPMSolverMultistepScheduler))]
    [InlineData("dpmpp-2m", nameof(DPMSolverMultistepScheduler))]
    [InlineData("dpm-solver++", nameof(DPMSolverMultistepScheduler))]
    [InlineData("dpm++2m-karras", nameof(DPMSolverMultistepScheduler))]
    [InlineData("lms", nameof(LMSDiscreteScheduler))]
    [InlineData("lmsdiscretescheduler", nameof(LMSDiscreteScheduler))]
    public void Create_Alias_GivesDiffusersClass(string name, string className)
    {
        using var s = SchedulerRegistry.Create(name, SchedulerReference.For("sd15-tiny").SourceConfig);
        Assert.Equal(className, s.GetType().Name);
        Assert.Equal(className, SchedulerRegistry.ClassNameOf(name));
    }

    [Fact]
    public void Create_UnknownName_ListsValidNames()
    {
        var e = Assert.Throws<DreamBoothException>(() => SchedulerRegistry.Create("heun", new SchedulerConfig()));
        Assert.Contains("'heun'", e.Message);
        foreach (var name in new[] { "DDIMScheduler", "euler-a", "dpm++2m-karras", "lms" }) Assert.Contains(name, e.Message);
    }

    [Fact]
    public void Create_DpmKarrasAlias_SetsKarrasSigmasExplicitly()
    {
        var sd15 = SchedulerReference.For("sd15-tiny").SourceConfig;
        using var plain = SchedulerRegistry.Create("dpm++2m", sd15);
        using var karras = SchedulerRegistry.Create("dpm++2m-karras", sd15);
        Assert.False(plain.Config.UseKarrasSigmas);
        Assert.True(karras.Config.UseKarrasSigmas);
        Assert.Equal("dpmsolver++", karras.Config.AlgorithmType);
        Assert.Equal(2, karras.Config.SolverOrder);

        // Explicit even when the source had the key only as a default (an Euler config resolved from SD 1.5's).
        using var euler = SchedulerRegistry.Create("euler", sd15);
        Assert.Contains("use_karras_sigmas", euler.Config.DefaultedKeys);
        using var fromEuler = SchedulerRegistry.Create("dpm++2m-karras", euler.Config);
        Assert.True(fromEuler.Config.UseKarrasSigmas);
    }

    [Fact]
    public void Create_ChainedSwaps_KeepOnlyExplicitKeys()
    {
        // SD 1.5's PNDM config has no timestep_spacing: Euler takes "linspace", a DDIM made from that Euler "leading".
        var sd15 = SchedulerReference.For("sd15-tiny").SourceConfig;
        using var euler = SchedulerRegistry.Create("euler", sd15);
        using var ddim = SchedulerRegistry.Create("ddim", euler.Config);
        using var back = SchedulerRegistry.Create("euler-a", ddim.Config);
        Assert.Equal("linspace", euler.Config.TimestepSpacing);
        Assert.Equal("leading", ddim.Config.TimestepSpacing);
        Assert.True(ddim.Config.SetAlphaToOne == false && ddim.Config.ClipSample == false);   // explicit in the file
        Assert.Equal("linspace", back.Config.TimestepSpacing);
        Assert.Equal(1, back.Config.StepsOffset);

        // SDXL's Euler config states "leading", so every class keeps it.
        using var sdxlLms = SchedulerRegistry.Create("lms", SchedulerReference.For("sdxl-tiny").SourceConfig);
        Assert.Equal("leading", sdxlLms.Config.TimestepSpacing);
    }

    [Fact]
    public void FromConfig_UsesClassName()
    {
        foreach (var pipeline in Fixtures.Pipelines)
        {
            var config = SchedulerReference.For(pipeline).SourceConfig;
            using var s = SchedulerRegistry.FromConfig(config);
            Assert.Equal(config.ClassName, s.GetType().Name);
        }
    }
}
