namespace DreamBooth.Tests.Schedulers;

using DreamBooth.Schedulers;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>
/// Every scheduler against diffusers 0.27.2 (<c>sched.&lt;S&gt;.N&lt;NN&gt;.*</c> of each fixture pipeline):
/// <c>s = S.from_config(pipeline scheduler config); s.set_timesteps(N)</c>, then 3 steps from <c>sched.in.sample</c>
/// with <c>sched.in.model_output[i]</c> and a generator seeded per step.
/// </summary>
public sealed class SchedulerParityTests(ITestOutputHelper output)
{
    // README "Determinism / tolerance": 1e-5, relative to the tensor's peak once latents are σ-scaled (|x| ≫ 1).
    private const double Tolerance = 1e-5;

    public static TheoryData<string, string, int> Cases => SchedulerReference.AllCases();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Scheduler_ThreeSteps_MatchDiffusers(string pipeline, string scheduler, int steps)
    {
        var reference = SchedulerReference.For(pipeline);
        var key = $"sched.{scheduler}.N{steps}";
        var meta = reference.Case(scheduler, steps);
        using var scope = NewDisposeScope();
        using var s = SchedulerRegistry.Create(scheduler + "Scheduler", reference.SourceConfig);
        s.SetTimesteps(steps);

        // Schedule: timesteps bit-exact incl. dtype, sigmas bit-exact, init_noise_sigma as float32.
        TensorAssert.Equal(reference.Read($"{key}.timesteps"), s.Timesteps, $"{key}.timesteps");
        if (reference.Has($"{key}.sigmas"))
            TensorAssert.Equal(reference.Read($"{key}.sigmas"), s.Sigmas ?? throw new Xunit.Sdk.XunitException("no sigmas"), $"{key}.sigmas");
        else
            Assert.Null(s.Sigmas);
        Assert.Equal(reference.Read($"{key}.init_noise_sigma").item<float>(), (float)s.InitNoiseSigma);
        Assert.Equal(meta["init_noise_sigma"]!.GetValue<double>(), (double)(float)s.InitNoiseSigma, 12);
        Assert.Equal(meta["order"]!.GetValue<int>(), s.Order);

        var seeds = meta["step_generator_seeds"]?.AsArray().Select(n => n!.GetValue<ulong>()).ToArray();
        var x = reference.Read("sched.in.sample");
        var modelOutputs = reference.Read("sched.in.model_output");
        var expectedScaled = reference.Read($"{key}.scale_model_input");
        var expectedPrev = reference.Read($"{key}.prev_sample");
        var expectedPredX0 = reference.Has($"{key}.pred_original_sample") ? reference.Read($"{key}.pred_original_sample") : null;
        var expectedNoise = reference.Has($"{key}.step_noise") ? reference.Read($"{key}.step_noise") : null;
        var worst = 0.0;
        for (var i = 0; i < 3; i++)
        {
            var t = s.Timesteps[i];
            var scaled = s.ScaleModelInput(x, t);
            worst = Math.Max(worst, TensorAssert.Close(expectedScaled[i], scaled, Tolerance, $"{key}.scale_model_input[{i}]"));

            using var generator = seeds is null ? null : new Generator(seeds[i]);
            var result = s.Step(modelOutputs[i], t, x, generator);
            worst = Math.Max(worst, TensorAssert.Close(expectedPrev[i], result.PrevSample, Tolerance, $"{key}.prev_sample[{i}]"));
            if (expectedPredX0 is not null)
                worst = Math.Max(worst, TensorAssert.Close(expectedPredX0[i], result.PredOriginalSample!, Tolerance, $"{key}.pred_original_sample[{i}]"));
            else
                Assert.Null(result.PredOriginalSample);

            if (expectedNoise is not null)
            {
                // The recorded noise is what this seed's generator yields, and Step consumed exactly that one draw.
                using var fresh = new Generator(seeds![i]);
                TensorAssert.Equal(expectedNoise[i], randn(modelOutputs[i].shape, generator: fresh), $"{key}.step_noise[{i}]");
                TensorAssert.Equal(randn(modelOutputs[i].shape, generator: fresh), randn(modelOutputs[i].shape, generator: generator!),
                    $"{key}: generator state after step {i}");
            }
            x = result.PrevSample;
        }
        output.WriteLine($"{pipeline} {key}: worst max|diff| / max(1, peak) = {worst:G3}");
    }
}
