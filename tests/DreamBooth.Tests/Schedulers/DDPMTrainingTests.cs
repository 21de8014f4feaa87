namespace DreamBooth.Tests.Schedulers;

using DreamBooth.Schedulers;
using static TorchSharp.torch;

/// <summary>
/// The training side of DDPMScheduler (<c>train.*</c>): <c>DDPMScheduler.from_pretrained(pipeline, subfolder="scheduler")</c>
/// tables, add_noise and get_velocity, all float32 and expected bit for bit.
/// </summary>
public sealed class DDPMTrainingTests
{
    public static TheoryData<string> Pipelines => new(Fixtures.Pipelines);

    [Theory]
    [MemberData(nameof(Pipelines))]
    public void DDPMScheduler_NoiseScheduleTables_BitExact(string pipeline)
    {
        var reference = SchedulerReference.For(pipeline);
        using var scope = NewDisposeScope();
        using var ddpm = new DDPMScheduler(reference.SourceConfig);
        TensorAssert.Equal(reference.Read("train.ddpm.betas"), ddpm.Betas, "betas");
        TensorAssert.Equal(reference.Read("train.ddpm.alphas_cumprod"), ddpm.AlphasCumprod, "alphas_cumprod");

        // add_noise's coefficients for every timestep: x_0 = 1, ε = 0 gives sqrt(ᾱ_t); x_0 = 0, ε = 1 gives sqrt(1 − ᾱ_t).
        var t = arange(1000, ScalarType.Int64);
        var one = ones(1000, 1, 1, 1);
        var zero = zeros(1000, 1, 1, 1);
        TensorAssert.Equal(reference.Read("train.ddpm.sqrt_alphas_cumprod"), ddpm.AddNoise(one, zero, t).flatten(), "sqrt_alphas_cumprod");
        TensorAssert.Equal(reference.Read("train.ddpm.sqrt_one_minus_alphas_cumprod"), ddpm.AddNoise(zero, one, t).flatten(), "sqrt_one_minus_alphas_cumprod");
    }

    [Theory]
    [MemberData(nameof(Pipelines))]
    public void DDPMScheduler_AddNoise_BitExact(string pipeline)
    {
        var reference = SchedulerReference.For(pipeline);
        using var scope = NewDisposeScope();
        using var ddpm = SchedulerRegistry.Create("ddpm", reference.SourceConfig);
        var noisy = ddpm.AddNoise(reference.Read("train.add_noise.original"), reference.Read("train.add_noise.noise"), reference.Read("train.add_noise.timesteps"));
        TensorAssert.Equal(reference.Read("train.add_noise.output"), noisy, "add_noise");
    }

    [Theory]
    [MemberData(nameof(Pipelines))]
    public void DDPMScheduler_GetVelocity_BitExact(string pipeline)
    {
        var reference = SchedulerReference.For(pipeline);
        using var scope = NewDisposeScope();
        using var ddpm = new DDPMScheduler(reference.SourceConfig);
        var v = ddpm.GetVelocity(reference.Read("train.add_noise.original"), reference.Read("train.add_noise.noise"), reference.Read("train.add_noise.timesteps"));
        TensorAssert.Equal(reference.Read("train.get_velocity.output"), v, "get_velocity");
    }

    [Fact]
    public void DDPMScheduler_ResolvedConfig_MatchesDiffusers()
    {
        foreach (var pipeline in Fixtures.Pipelines)
        {
            var reference = SchedulerReference.For(pipeline);
            using var ddpm = new DDPMScheduler(reference.SourceConfig);
            ConfigAssert.Equal(reference.Section["ddpm_config"]!.AsObject(), ddpm.Config, $"{pipeline} ddpm_config");
        }
    }
}
