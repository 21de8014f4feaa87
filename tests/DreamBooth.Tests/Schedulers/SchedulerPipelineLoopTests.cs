namespace DreamBooth.Tests.Schedulers;

using DreamBooth.Schedulers;
using DreamBooth.Torch;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>
/// Whole denoising loops of the fixture pipeline runs (<c>pipeline.&lt;run&gt;.*</c>) with the UNet replaced by its
/// recorded outputs: every step's UNet input, every step's latents (incl. DPM++'s final first-order step and PNDM's
/// repeated timestep) and the noise the scheduler drew from the pipeline generator, in order.
/// </summary>
public sealed class SchedulerPipelineLoopTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-5;   // relative to the peak: these latents reach |x| ~ 50
    private const double GuidanceScale = 7.5;

    public static TheoryData<string, string> Runs()
    {
        var data = new TheoryData<string, string>();
        foreach (var pipeline in Fixtures.Pipelines)
            foreach (var (run, _) in SchedulerReference.For(pipeline).Json["sections"]!["pipeline"]!["runs"]!.AsObject())
                data.Add(pipeline, run);
        return data;
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void Scheduler_PipelineLoopWithRecordedUNet_MatchesDiffusers(string pipeline, string run)
    {
        var reference = SchedulerReference.For(pipeline);
        var meta = reference.Json["sections"]!["pipeline"]!["runs"]![run]!.AsObject();
        var key = $"pipeline.{run}";
        using var scope = NewDisposeScope();
        using var scheduler = SchedulerRegistry.Create(meta["scheduler_class"]!.GetValue<string>(), reference.SourceConfig);
        ConfigAssert.Equal(meta["resolved_scheduler_config"]!.AsObject(), scheduler.Config, $"{key} config");
        scheduler.SetTimesteps(reference.Json["sections"]!["pipeline"]!["num_inference_steps"]!.GetValue<int>());
        TensorAssert.Equal(reference.Read($"{key}.timesteps"), scheduler.Timesteps, $"{key}.timesteps");

        // The generator only feeds the scheduler here (latents are given); record every draw through a twin generator.
        using var generator = Rng.CpuGenerator(meta["generator_seed"]!.GetValue<ulong>());
        var latents = reference.Read("pipeline.latents") * scheduler.InitNoiseSigma;
        var unetInputs = reference.Read($"{key}.step_unet_input");
        var unetOutputs = reference.Read($"{key}.step_unet_output");
        var stepLatents = reference.Read($"{key}.step_latents");
        var stepTimesteps = reference.Read($"{key}.step_timestep");
        Assert.Equal(scheduler.Timesteps.shape[0], unetOutputs.shape[0]);

        var worst = 0.0;
        for (var i = 0; i < scheduler.Timesteps.shape[0]; i++)
        {
            // One dispose scope per step, as the pipelines run: the scheduler's history must survive it.
            using var stepScope = NewDisposeScope();
            var t = scheduler.Timesteps[i];
            Assert.Equal(stepTimesteps[i].ToDouble(), t.ToDouble());
            var unetInput = scheduler.ScaleModelInput(cat([latents, latents]), t);
            worst = Math.Max(worst, TensorAssert.Close(unetInputs[i], unetInput, Tolerance, $"{key}.step_unet_input[{i}]"));

            var chunks = unetOutputs[i].chunk(2);   // [negative, positive]
            var guided = chunks[0] + GuidanceScale * (chunks[1] - chunks[0]);
            latents = scheduler.Step(guided, t, latents, generator).PrevSample.MoveToOuterDisposeScope();
            worst = Math.Max(worst, TensorAssert.Close(stepLatents[i], latents, Tolerance, $"{key}.step_latents[{i}]"));
        }
        if (reference.Has($"{key}.sigmas"))
            TensorAssert.Equal(reference.Read($"{key}.sigmas"), scheduler.Sigmas ?? throw new Xunit.Sdk.XunitException("no sigmas"), $"{key}.sigmas");
        else
            Assert.Null(scheduler.Sigmas);

        // The generator advanced by exactly the recorded draws.
        var draws = meta["num_scheduler_noise_draws"]?.GetValue<int>() ?? 0;
        using var twin = Rng.CpuGenerator(meta["generator_seed"]!.GetValue<ulong>());
        if (draws > 0)
        {
            var recorded = reference.Read($"{key}.scheduler_noise");
            for (var d = 0; d < draws; d++)
                TensorAssert.Equal(recorded[d], randn(recorded[d].shape, generator: twin), $"{key}.scheduler_noise[{d}]");
        }
        TensorAssert.Equal(randn([16], generator: twin), randn([16], generator: generator), $"{key}: generator position after the loop");
        output.WriteLine($"{pipeline} {key}: worst max|diff| / max(1, peak) = {worst:G3}");
    }
}
