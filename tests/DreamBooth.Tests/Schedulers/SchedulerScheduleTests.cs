namespace DreamBooth.Tests.Schedulers;

using DreamBooth.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>Schedule variants the fixtures do not record, checked against values derived by hand from diffusers' code.</summary>
public sealed class SchedulerScheduleTests
{
    private static readonly SchedulerConfig Sd = new() { BetaStart = 0.00085, BetaEnd = 0.012, BetaSchedule = "scaled_linear" };

    private static double[] Values(Tensor t) => t.to(ScalarType.Float64).data<double>().ToArray();

    [Theory]
    [InlineData("ddim", "trailing", new double[] { 999, 749, 499, 249 })]
    [InlineData("ddim", "linspace", new double[] { 999, 666, 333, 0 })]
    [InlineData("ddpm", "trailing", new double[] { 999, 749, 499, 249 })]
    [InlineData("euler", "trailing", new double[] { 999, 749, 499, 249 })]
    [InlineData("euler", "leading", new double[] { 750, 500, 250, 0 })]
    [InlineData("dpm++2m", "trailing", new double[] { 999, 749, 499, 249 })]
    [InlineData("pndm", "linspace", new double[] { 999, 666, 666, 333, 0 })]
    public void SetTimesteps_Spacing_MatchesDiffusersRule(string name, string spacing, double[] expected)
    {
        using var s = SchedulerRegistry.Create(name, Sd with { TimestepSpacing = spacing, SkipPrkSteps = true });
        s.SetTimesteps(4);
        Assert.Equal(expected, Values(s.Timesteps));
    }

    [Fact]
    public void Arange_FloatStep_HasNumpyLength()
    {
        // np.arange(1000, 0, -1000/61) has 62 elements (1000 / (1000/61) rounds above 61), which diffusers inherits.
        Assert.Equal(62, ScheduleMath.Arange(1000, 0, -1000.0 / 61).Length);
        Assert.Equal(25, ScheduleMath.Arange(1000, 0, -1000.0 / 25).Length);
    }

    [Fact]
    public void TorchLinspace_Endpoints_AreExact()
    {
        var x = ScheduleMath.TorchLinspace(-6, 6, 1000);
        Assert.Equal(-6f, x[0]);
        Assert.Equal(6f, x[^1]);
        Assert.True(x.Zip(x.Skip(1)).All(p => p.First < p.Second));
    }

    [Fact]
    public void DPMSolverKarras_Sigmas_SpanTrainingRangeAndEndAtZero()
    {
        using var s = new DPMSolverMultistepScheduler(Sd with { UseKarrasSigmas = true });
        s.SetTimesteps(20);
        using var ddpm = new DDPMScheduler(Sd);
        var ac = ddpm.AlphasCumprod.data<float>().ToArray();
        var sigmas = s.Sigmas!.data<float>().ToArray();
        var timesteps = Values(s.Timesteps);
        Assert.Equal(21, sigmas.Length);
        Assert.Equal(MathF.Sqrt((1 - ac[^1]) / ac[^1]), sigmas[0]);
        Assert.Equal(MathF.Sqrt((1 - ac[0]) / ac[0]), sigmas[19], 5);
        Assert.Equal(0f, sigmas[20]);
        Assert.True(sigmas.Zip(sigmas.Skip(1)).All(p => p.First > p.Second));
        Assert.Equal(999, timesteps[0]);
        Assert.Equal(0, timesteps[^1]);
        Assert.True(timesteps.Zip(timesteps.Skip(1)).All(p => p.First >= p.Second));
    }

    [Fact]
    public void EulerKarras_Timesteps_AreFractionalFloat32()
    {
        using var s = new EulerDiscreteScheduler(Sd with { UseKarrasSigmas = true });
        s.SetTimesteps(10);
        Assert.Equal(ScalarType.Float32, s.Timesteps.dtype);
        var t = Values(s.Timesteps);
        Assert.Equal(999, t[0], 3);
        Assert.Contains(t, v => v != Math.Round(v));
        Assert.Equal(s.Sigmas!.max().item<float>(), (float)s.InitNoiseSigma);
    }

    [Fact]
    public void PNDMScheduler_PseudoRungeKutta_TimestepsAndLoop()
    {
        using var s = new PNDMScheduler(Sd);   // skip_prk_steps defaults to false: 3 PRK steps of 4 evaluations
        s.SetTimesteps(10);
        Assert.Equal(new double[] { 900, 850, 850, 800, 800, 750, 750, 700, 700, 650, 650, 600, 600, 500, 400, 300, 200, 100, 0 },
            Values(s.Timesteps));
        using var scope = NewDisposeScope();
        using var g = new Generator(7);
        var x = randn([1, 4, 8, 8], generator: g);
        foreach (var t in Values(s.Timesteps))
            x = s.Step(0.1 * randn([1, 4, 8, 8], generator: g), t, x).PrevSample;
        Assert.True(x.isfinite().all().item<bool>());
    }

    [Fact]
    public void DPMSolver_ThirdOrderAndSde_RunFullLoops()
    {
        foreach (var config in new[]
                 {
                     Sd with { SolverOrder = 3 },
                     Sd with { AlgorithmType = "sde-dpmsolver++" },
                     Sd with { AlgorithmType = "dpmsolver", SolverType = "heun", FinalSigmasType = "sigma_min" },
                 })
        {
            using var s = new DPMSolverMultistepScheduler(config);
            s.SetTimesteps(8);
            using var scope = NewDisposeScope();
            using var g = new Generator(3);
            var x = randn([1, 4, 8, 8], generator: g);
            foreach (var t in Values(s.Timesteps))
                x = s.Step(0.1 * randn([1, 4, 8, 8], generator: g), t, x, g).PrevSample;
            Assert.True(x.isfinite().all().item<bool>(), config.AlgorithmType);
        }
    }

    [Fact]
    public void RescaleBetasZeroSnr_TerminalAlphaIsZero_SigmaSchedulersFloorIt()
    {
        var config = Sd with { RescaleBetasZeroSnr = true, TimestepSpacing = "trailing" };
        using var ddim = new DDIMScheduler(config);
        Assert.Equal(0f, ddim.AlphasCumprod[-1].item<float>());
        using var euler = new EulerDiscreteScheduler(config);
        euler.SetTimesteps(4);
        Assert.Equal(MathF.Sqrt((1 - MathF.Pow(2, -24)) / MathF.Pow(2, -24)), euler.Sigmas![0].item<float>());
    }
}
