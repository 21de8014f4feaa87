namespace DreamBooth.Tests.Torch;

using DreamBooth.Models;
using DreamBooth.Models.Autoencoders;
using DreamBooth.Schedulers;
using DreamBooth.Tests.Training;
using DreamBooth.Training;
using DreamBooth.Torch;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>
/// TorchSharp's operators free their temporary Scalars when a garbage collection finalizes them, which another thread
/// can start in the middle of the native call that reads them (see Ops). Measured here with a thread collecting
/// non-stop: <c>a + b</c> and <c>t * 0.5</c> failed in about one call of 5,000 ("Unknown scalar type", "Expected
/// false to be true"), never with a wrong value; the Ops helpers never. This runs the per-step arithmetic of training
/// (loss terms, noise, clipping, AdamW, loss scaling, 8-bit state) the same way and wants every result unchanged.
/// Runs alone: the collecting thread would slow every other test.
/// </summary>
[Collection(nameof(ProcessWideState))]
public sealed class ScalarLifetimeTests(ITestOutputHelper output)
{
    [Fact]
    public void TrainingStepArithmetic_UnderNonStopGarbageCollection_NeverFailsAndGivesTheSameBits()
    {
        using var inputs = new Inputs();
        var expected = inputs.Step();

        int iterations = 0, failures = 0, controlFailures = 0;
        var errors = new List<string>();
        var stop = false;
        var collector = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        });
        collector.Start();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            while (clock.Elapsed < TimeSpan.FromSeconds(3))
            {
                iterations++;
                try
                {
                    var actual = inputs.Step();
                    if (!actual.SequenceEqual(expected)) { failures++; errors.Add("different values"); }
                }
                catch (Exception e) when (e is System.Runtime.InteropServices.ExternalException or InvalidOperationException)
                {
                    failures++;
                    errors.Add(e.Message.Split('\n')[0]);
                }
                controlFailures += inputs.Control();
            }
        }
        finally
        {
            Volatile.Write(ref stop, true);
            collector.Join();
        }
        output.WriteLine($"{iterations} steps under non-stop GC: {failures} failed; the operator control (a + b, t * 0.5, " +
                         $"{iterations * Inputs.ControlCalls} calls) failed {controlFailures} times");
        Assert.True(failures == 0, $"{failures} of {iterations} steps failed: {string.Join(" / ", errors.Distinct().Take(5))}");
        Assert.True(iterations > 20, $"only {iterations} steps ran");
    }

    // Small tensors, so the loop makes many native calls: each step reads back one number per result.
    private sealed class Inputs : IDisposable
    {
        public const int ControlCalls = 20;
        private readonly Generator generator = new(2026);
        private readonly ITrainingNoiseScheduler scheduler = (ITrainingNoiseScheduler)SchedulerRegistry.Create("DDPMScheduler",
            SchedulerConfig.Parse("""{"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "prediction_type": "v_prediction"}"""));
        private readonly Timesteps timesteps = new(32, flipSinToCos: true, downscaleFreqShift: 1);
        private readonly BlockwiseQuantizer quantizer = new(BlockwiseQuantizer.CreateDynamicMap(signed: true), blockSize: 64);
        private readonly GradScaler scaler = new(enabled: true);
        private readonly Tensor pred, target, latents, latents64, noise64, posterior, weight, grad, t;

        public Inputs()
        {
            pred = randn([4, 4, 8, 8], generator: generator).DetachFromDisposeScope();
            target = randn([4, 4, 8, 8], generator: generator).DetachFromDisposeScope();
            latents = randn([4, 4, 8, 8], generator: generator).DetachFromDisposeScope();
            latents64 = randn([4, 4, 8, 8], ScalarType.Float64, generator: generator).DetachFromDisposeScope();
            noise64 = randn([4, 4, 8, 8], ScalarType.Float64, generator: generator).DetachFromDisposeScope();
            posterior = randn([2, 8, 4, 4], generator: generator).DetachFromDisposeScope();
            weight = randn([300], generator: generator).DetachFromDisposeScope();
            grad = randn([300], generator: generator).DetachFromDisposeScope();
            t = tensor(new long[] { 3, 250, 600, 999 }).DetachFromDisposeScope();
        }

        public double[] Step()
        {
            using var scope = NewDisposeScope();
            var results = new List<Tensor>
            {
                TrainingStep.MinSnrLoss(scheduler, pred, target, t, 5.0),
                scheduler.AddNoise(latents64, noise64, t),
                scheduler.GetVelocity(latents64, noise64, t),
                scheduler.AddNoise(latents, pred, t),
                timesteps.call(t),
                scaler.ScaleLoss(pred.sum()),
            };
            using (var dist = new DiagonalGaussianDistribution(posterior.clone())) results.Add(dist.Std.clone());

            // Clipping and an AdamW update of a copy of the same parameter and gradient each time.
            using var p = new Parameter(weight.clone());
            p.grad = grad.clone();
            results.Add(tensor(GradClip.ClipGradNorm([p], 0.5)));
            var (m, v) = (zeros_like(weight), zeros_like(weight));
            using (no_grad()) DreamBooth.Training.AdamW.Apply(p, p.grad!, m, v, 1, 1e-3, new AdamWOptions(1e-3, WeightDecay: 1e-2));
            results.AddRange([p.detach().clone(), m, v]);

            var codes = zeros([300], ScalarType.Byte);
            var absmax = zeros([quantizer.Blocks(300)]);
            quantizer.Quantize(grad, codes, absmax);
            results.Add(quantizer.Dequantize(codes, absmax));
            results.Add(Ops.Add(Ops.Arange(0, 7, ScalarType.Float32, CPU), Ops.Full([7], 0.25, ScalarType.Float32, CPU)));
            return results.Select(r => r.to(ScalarType.Float64).sum().item<double>()).ToArray();
        }

        // The operators the helpers replace, counted only (they are TorchSharp's, so no assertion): evidence that the
        // collecting thread reaches native calls in this run.
        public int Control()
        {
            int failed = 0;
            for (int i = 0; i < ControlCalls / 2; i++)
            {
                try
                {
                    using var sum = pred + target;
                    using var half = pred * 0.5;
                }
                catch (System.Runtime.InteropServices.ExternalException) { failed++; }
            }
            return failed;
        }

        public void Dispose()
        {
            foreach (var x in new[] { pred, target, latents, latents64, noise64, posterior, weight, grad, t }) x.Dispose();
            quantizer.Dispose();
            timesteps.Dispose();
            scheduler.Dispose();
            generator.Dispose();
        }
    }
}
