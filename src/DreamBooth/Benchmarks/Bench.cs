// dreambooth bench: the main jobs at the tiny fixture size and at SD 1.5's real UNet shape (random weights), each as a
// fraction of this machine's own limits measured in the same run (fp32 GEMM 2048³, conv 3×3 320→320).
namespace DreamBooth.Benchmarks;

using System.Diagnostics;
using DreamBooth.Loading;
using DreamBooth.Lora;
using DreamBooth.Models.Autoencoders;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unets;
using DreamBooth.Pipelines;
using DreamBooth.Schedulers;
using DreamBooth.Torch;
using DreamBooth.Training;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>Which cases to run.</summary>
/// <param name="TinyModel">A diffusers folder for the tiny cases (the fixture pipeline).</param>
/// <param name="Sd15">Also run SD 1.5's real shapes (random weights).</param>
/// <param name="LatentSize">SD 1.5 latent side: 32 (256 px) or 64 (512 px).</param>
/// <param name="Repeats">Timed repeats per case after one warm-up.</param>
public sealed record BenchOptions(string TinyModel, bool Sd15 = true, int LatentSize = 32, int Repeats = 3);

public static class Bench
{
    /// <summary>Runs the cases in order, reporting each as it finishes.</summary>
    public static BenchReport Run(BenchOptions options, Action<BenchResult>? progress = null, CancellationToken cancel = default)
    {
        TorchRuntime.EnsureLoaded();
        var results = new List<BenchResult>();
        void Add(BenchResult r) { results.Add(r); progress?.Invoke(r); cancel.ThrowIfCancellationRequested(); }

        var gemm = Measure("gemm-2048", options.Repeats, 2.0 * 2048 * 2048 * 2048, 1, () => GemmCase());
        Add(gemm);
        var conv = Measure("conv3x3-320", options.Repeats, 2.0 * 2 * 320 * 32 * 32 * 320 * 9, 2, () => ConvCase());
        Add(conv);
        foreach (var r in ModelCases("tiny", Path.Combine(options.TinyModel, "unet", "config.json"), Path.Combine(options.TinyModel, "vae", "config.json"),
                                     Path.Combine(options.TinyModel, "text_encoder", "config.json"), 8, options.Repeats))
            Add(r);
        if (options.Sd15)
        {
            var sd15 = ModelDefaults.Sd15Folder();
            foreach (var r in ModelCases("sd15", Path.Combine(sd15, "unet", "config.json"), Path.Combine(sd15, "vae", "config.json"),
                                         Path.Combine(sd15, "text_encoder", "config.json"), options.LatentSize, options.Repeats))
                Add(r);
        }
        return new BenchReport(Machine(), gemm.Gflops ?? 0, conv.Gflops ?? 0, results);
    }

    /// <summary>This machine as the reports describe it.</summary>
    public static BenchMachine Machine() =>
        new(CpuInfo.Model, CpuInfo.Isa, torch.get_num_threads(), Environment.ProcessorCount, NativeContext.OneDnnEnabled, torch.__version__);

    /// <summary>
    /// Profiles one training step of SD 1.5's real UNet shape (the tiny fixture UNet when <see cref="BenchOptions.Sd15"/>
    /// is off) at batch 1, full fine-tune and LoRA r4: phases and time per module type (<see cref="StepProfiler"/>).
    /// </summary>
    public static IReadOnlyList<StepProfileReport> Profile(BenchOptions options, Action<StepProfileReport>? progress = null)
    {
        TorchRuntime.EnsureLoaded();
        var folder = options.Sd15 ? ModelDefaults.Sd15Folder() : options.TinyModel;
        var config = UNet2DConditionConfig.Load(Path.Combine(folder, "unet", "config.json"));
        int latent = options.Sd15 ? options.LatentSize : 8;
        var prefix = options.Sd15 ? "sd15" : "tiny";
        var sample = randn(1, config.InChannels, latent, latent);
        var context = randn(1, 77, config.CrossAttentionDim[0]);
        var timesteps = tensor(new long[] { 500 });
        var noise = randn(sample.shape);
        var reports = new List<StepProfileReport>();
        foreach (var kind in new[] { "full", "lora" })
        {
            var (unet, optimizer) = TrainableUnet(kind, config);
            using (unet)
            using (optimizer)
            {
                var report = StepProfiler.Profile($"{prefix}-unet-train-{kind}", unet,
                    () => nn.functional.mse_loss(unet.forward(sample, timesteps, context, null), noise), optimizer);
                reports.Add(report);
                progress?.Invoke(report);
            }
        }
        return reports;
    }

    private static Action GemmCase()
    {
        var a = randn(2048, 2048);
        var b = randn(2048, 2048);
        return () => { using var c = a.matmul(b); };
    }

    private static Action ConvCase()
    {
        var x = randn(2, 320, 32, 32);
        var w = randn(320, 320, 3, 3);
        return () => { using var y = nn.functional.conv2d(x, w, null, [1, 1], [1, 1]); };
    }

    // Text encoder, VAE, UNet forward, the three DreamBooth training steps and one guided generation step.
    private static IEnumerable<BenchResult> ModelCases(string prefix, string unetConfig, string vaeConfig, string textConfig, int latent, int repeats)
    {
        using var noGrad = no_grad();
        var unetCfg = UNet2DConditionConfig.Load(unetConfig);
        var vaeCfg = AutoencoderKLConfig.Load(vaeConfig);
        var ids = tensor(Enumerable.Range(0, 77).Select(i => (long)(i % 1000)).ToArray()).unsqueeze(0);
        using (var te = CLIPTextEncoder.Create(CLIPTextConfig.Load(textConfig)))
        {
            RandomWeights(te);
            using var flops = new FlopCounter(te);
            yield return MeasureModel($"{prefix}-text-encoder", repeats, 1, flops, () => () => { using var s = NewDisposeScope(); te.Encode(ids); });
        }
        using (var vae = new AutoencoderKL(vaeCfg))
        {
            RandomWeights(vae);
            vae.eval();
            int pixels = latent * vaeCfg.DownsampleFactor;
            var image = randn(1, 3, pixels, pixels);
            var z = randn(1, vaeCfg.LatentChannels, latent, latent);
            using var flops = new FlopCounter(vae);
            yield return MeasureModel($"{prefix}-vae-encode", repeats, 1, flops, () => () => { using var s = NewDisposeScope(); using var d = vae.Encode(image); });
            yield return MeasureModel($"{prefix}-vae-decode", repeats, 1, flops, () => () => { using var s = NewDisposeScope(); vae.Decode(z); });
        }
        // The UNet at DreamBooth's training batch: instance + class latents.
        var sample = randn(2, unetCfg.InChannels, latent, latent);
        var context = randn(2, 77, unetCfg.CrossAttentionDim[0]);
        var timesteps = tensor(new long[] { 500, 700 });
        using (var unet = new UNet2DConditionModel(unetCfg))
        {
            RandomWeights(unet);
            unet.eval();
            using var flops = new FlopCounter(unet);
            var one = sample[..1];
            yield return MeasureModel($"{prefix}-unet-forward", repeats, 1, flops, () => () => { using var s = NewDisposeScope(); unet.forward(one, timesteps[..1], context[..1], null); });
            // A guided generation step: unconditional and conditional batch in one forward, then the guidance and the
            // scheduler's update, as the pipeline does.
            using var scheduler = new DDIMScheduler();
            scheduler.SetTimesteps(50);
            yield return MeasureModel($"{prefix}-generate-step", repeats, 1, flops, () => () =>
            {
                using var s = NewDisposeScope();
                var eps = unet.forward(sample, timesteps, context, null).chunk(2);
                var guided = eps[0] + (eps[1] - eps[0]) * 7.5;
                scheduler.Step(guided, 500, one);
            });
        }
        foreach (var kind in new[] { "full", "lora", "lora-8bit-ckpt" })
            yield return TrainCase($"{prefix}-unet-train-{kind}", kind, unetCfg, sample, timesteps, context, repeats);
    }

    // One DreamBooth optimizer step: forward, MSE against noise, backward, AdamW (8-bit with checkpointing).
    private static BenchResult TrainCase(string name, string kind, UNet2DConditionConfig config, Tensor sample, Tensor timesteps, Tensor context, int repeats)
    {
        var (unet, optimizer) = TrainableUnet(kind, config);
        using var unetScope = unet;
        using var optimizerScope = optimizer;
        var noise = randn(sample.shape);
        double forwardFlops;
        using (var flops = new FlopCounter(unet))
        {
            using var noGrad = no_grad();
            using var s = NewDisposeScope();
            unet.forward(sample, timesteps, context, null);
            forwardFlops = flops.Flops;
        }
        return Measure(name, repeats, 3 * forwardFlops, 1, () => () =>
        {
            using (var s = NewDisposeScope())
            {
                using var grad = enable_grad();
                var loss = nn.functional.mse_loss(unet.forward(sample, timesteps, context, null), noise);
                Checkpoint.Backward(loss);
            }
            optimizer.Step();
            optimizer.ZeroGrad();
        });
    }

    // A UNet with random weights set up for one kind of training step: "full", "lora" (r4) or "lora-8bit-ckpt".
    private static (UNet2DConditionModel Unet, IOptimizer Optimizer) TrainableUnet(string kind, UNet2DConditionConfig config)
    {
        var unet = new UNet2DConditionModel(config);
        RandomWeights(unet);
        IEnumerable<TorchSharp.Modules.Parameter> trainable = unet.parameters();
        if (kind != "full")
        {
            foreach (var p in unet.parameters()) p.requires_grad = false;
            LoraInjector.Inject(unet, new LoraConfig { Rank = 4, Alpha = 4 });
            trainable = unet.parameters().Where(p => p.requires_grad).ToList();
        }
        unet.GradientCheckpointing = kind == "lora-8bit-ckpt";
        unet.train();
        var adam = new AdamWOptions(1e-6, 0.9, 0.999, 1e-2, 1e-8);
        return (unet, kind == "lora-8bit-ckpt" ? new AdamW8bit(trainable, adam) : new AdamW(trainable, adam));
    }

    private static BenchResult MeasureModel(string name, int repeats, double items, FlopCounter flops, Func<Action> setup)
    {
        flops.Reset();
        var run = setup();
        run();                                                                          // warm-up, and the FLOP count
        double perRun = flops.Flops;
        return Measure(name, repeats, perRun, items, () => run, warmUp: false);
    }

    // Median wall time of `repeats` runs after a warm-up, with the peak RSS of this case alone (VmHWM reset first).
    private static BenchResult Measure(string name, int repeats, double flops, double items, Func<Action> setup, bool warmUp = true)
    {
        ProcessMemory.ResetPeak();
        var run = setup();
        if (warmUp) run();
        var times = new List<double>();
        for (int i = 0; i < Math.Max(1, repeats); i++)
        {
            var clock = Stopwatch.StartNew();
            run();
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        double median = times[times.Count / 2];
        double? gflops = flops > 0 ? flops / (median / 1000) / 1e9 : null;
        return new BenchResult(name, Math.Round(median, 2), gflops is null ? null : Math.Round(gflops.Value, 2), Math.Round(ProcessMemory.PeakResidentMb(), 1),
                               Math.Round(items / (median / 1000), 3), flops > 0 ? flops : null, times.Count);
    }

    // Random but well-scaled weights (norms as identity, the default fan-in init elsewhere), from a fixed seed.
    private static void RandomWeights(nn.Module module)
    {
        using var generator = new Generator(0);
        FreshInit.Apply(module, generator);
    }
}
