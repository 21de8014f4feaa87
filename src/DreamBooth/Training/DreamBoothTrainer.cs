// The DreamBooth training loop, readable top to bottom, after diffusers examples/dreambooth/train_dreambooth.py and
// train_dreambooth_lora.py (v0.27.2): same data pairing, noise/timestep sampling, targets, loss, accumulation,
// clipping and LR schedule; plus atomic checkpoints that resume bit-for-bit.
namespace DreamBooth.Training;

using System.Diagnostics;
using DreamBooth.IO;
using DreamBooth.Lora;
using DreamBooth.Pipelines;
using DreamBooth.Schedulers;
using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>Progress of one optimizer step (or a phase message).</summary>
public sealed record TrainProgress(int Step, int MaxSteps, double Loss, double LearningRate, double StepsPerSecond, long MemoryBytes, string? Phase = null);

/// <summary>What training produced.</summary>
public sealed record TrainResult(string OutputDir, int Steps, double FinalLoss, double StepsPerSecond, long PeakMemoryBytes, string? WeightsFile);

public sealed class DreamBoothTrainer
{
    public const string LogFile = "train_log.jsonl";
    private readonly TrainOptions options;
    private readonly string modelPath;
    private readonly Device device;
    private readonly Action<string> warn;

    /// <param name="modelPath">A local pipeline folder or single-file checkpoint (hub ids are resolved by the caller).</param>
    public DreamBoothTrainer(TrainOptions options, string modelPath, Device? device = null, Action<string>? warn = null)
    {
        this.options = options.Validated();
        this.modelPath = modelPath;
        this.device = device ?? CPU;
        this.warn = warn ?? (_ => { });
    }

    public TrainResult Run(IProgress<TrainProgress>? progress = null, CancellationToken cancel = default)
    {
        var o = options;
        var seed = o.Seed ?? (ulong)Random.Shared.NextInt64(0, int.MaxValue);
        Directory.CreateDirectory(o.OutputDir);
        var store = new CheckpointStore(o.OutputDir);
        store.RemoveIncomplete();
        // Seed first: LoRA initialisation and dropout draw from torch's global generator (diffusers' set_seed).
        torch.manual_seed((long)(seed & long.MaxValue));
        var frozenDtype = TorchRuntime.ParseDtype(o.MixedPrecision);
        // Wrong kernels would train silently on garbage gradients: check them in each dtype the step uses.
        foreach (var dtype in new[] { ScalarType.Float32, frozenDtype }.Distinct())
            if (KernelCheck.EnsureCorrect(device, dtype).WorkaroundApplied)
                warn($"oneDNN computed wrong {TorchRuntime.DtypeName(dtype)} gradients on this CPU ({CpuInfo.Isa}); it is switched off for this run.");

        // 1. Models. Everything loads in fp32; frozen parts then move to the mixed-precision dtype.
        progress?.Report(new TrainProgress(0, o.EffectiveMaxTrainSteps, double.NaN, 0, 0, 0, "loading model"));
        using var pipe = PipelineLoader.Load(modelPath, new PipelineLoadOptions { Device = device, Variant = o.Variant });
        int resolution = o.Resolution ?? pipe.DefaultSize;

        // 2. Prior preservation: the model draws its own class images when the folder has too few.
        if (o.WithPriorPreservation)
            ClassImageGenerator.Ensure(pipe, o.ClassDataDir!, o.ClassPrompt!, o.NumClassImages, o.SampleBatchSize, o.ClassInferenceSteps,
                                       seed, resolution, progress is null ? null : (done, total) =>
                                           progress.Report(new TrainProgress(0, o.EffectiveMaxTrainSteps, double.NaN, 0, 0, 0, $"class images {done}/{total}")),
                                       cancel);
        var data = new DreamBoothDataset(o.InstanceDataDir!, o.WithPriorPreservation ? o.ClassDataDir : null, resolution,
                                         o.CenterCrop, o.RandomFlip, o.SkipBadImages, warn);
        if (data.InstanceCount is < 3 or > 10)
            warn($"{data.InstanceCount} instance image(s): DreamBooth works best with 3–10 photos of the subject.");

        // 3. What trains: the whole UNet (full), or LoRA adapters; optionally the text encoder too.
        var unet = pipe.Unet;
        var textEncoder = (nn.Module)pipe.TextEncoder;
        var textEncoder2 = pipe.TextEncoder2 as nn.Module;
        Freeze(pipe.Vae);
        pipe.Vae.to(frozenDtype);
        if (!o.TrainTextEncoder)
        {
            Freeze(textEncoder);
            textEncoder.to(frozenDtype);
            if (textEncoder2 is not null) { Freeze(textEncoder2); textEncoder2.to(frozenDtype); }
        }
        if (o.Method == TrainMethod.Lora)
        {
            unet.to(frozenDtype);
            var lora = new LoraConfig { Rank = o.Rank, Alpha = o.EffectiveLoraAlpha, Dropout = o.LoraDropout, TargetModules = o.LoraTargetModules, Dtype = ScalarType.Float32 };
            LoraInjector.Inject(unet, lora);
            if (o.TrainTextEncoder)
            {
                var teLora = lora with { TargetModules = ["q_proj", "k_proj", "v_proj", "out_proj"] };
                LoraInjector.Inject(textEncoder, teLora);
                if (textEncoder2 is not null) LoraInjector.Inject(textEncoder2, teLora);
            }
        }
        unet.GradientCheckpointing = o.GradientCheckpointing;
        unet.train();
        if (o.TrainTextEncoder)
        {
            pipe.TextEncoder.GradientCheckpointing = o.GradientCheckpointing;
            if (pipe.TextEncoder2 is { } te2) te2.GradientCheckpointing = o.GradientCheckpointing;
            textEncoder.train();
            textEncoder2?.train();
        }
        var trainable = Trainable("unet.", unet)
            .Concat(o.TrainTextEncoder ? Trainable("text_encoder.", textEncoder) : [])
            .Concat(o.TrainTextEncoder && textEncoder2 is not null ? Trainable("text_encoder_2.", textEncoder2) : [])
            .ToList();

        // 4. Optimizer, LR schedule (per optimizer step), loss scaling for fp16.
        var adam = new AdamWOptions(o.EffectiveLearningRate, o.AdamBeta1, o.AdamBeta2, o.AdamWeightDecay, o.AdamEpsilon);
        using IOptimizer optimizer = o.Use8bitAdam ? new AdamW8bit(trainable.Select(p => p.Parameter), adam) : new AdamW(trainable, adam);
        var schedule = new LrSchedule(o.LrScheduler, o.LrWarmupSteps, o.EffectiveMaxTrainSteps, o.LrNumCycles, o.LrPower, o.EffectiveLearningRate);
        var scaler = new GradScaler(enabled: o.MixedPrecision == "fp16");
        var noiseScheduler = (ITrainingNoiseScheduler)SchedulerRegistry.Create("DDPMScheduler", pipe.SchedulerConfig);
        int numTrainTimesteps = noiseScheduler.Config.NumTrainTimesteps ?? 1000;

        // 5. Randomness: one generator for noise/timesteps/latent sampling, one for augmentation, one for data order.
        using var noiseGen = Rng.CpuGenerator(seed);
        using var dataGen = Rng.CpuGenerator(seed + 1);
        var orderRng = new ResumableRandom((long)(seed & long.MaxValue));
        var generators = new Dictionary<string, Generator> { ["noise"] = noiseGen, ["data"] = dataGen };
        var state = new TrainerState(0, 0, 0, Permutation(orderRng, data.Count), seed, o.Method.ToString());

        var logPath = Path.Combine(o.OutputDir, LogFile);
        if (o.ResumeFromCheckpoint is { } resume)
        {
            var checkpoint = store.Find(resume);
            if (checkpoint is null) warn($"--resume-from-checkpoint {resume}: no checkpoint in {o.OutputDir}; starting a new run.");
            else
            {
                state = Restore(checkpoint, trainable, optimizer, scaler, orderRng, generators);
                seed = state.Seed;                                                        // validation keeps its seed
                TrainingLog.TruncateAfter(logPath, state.GlobalStep);
            }
        }
        else if (File.Exists(logPath)) File.Delete(logPath);
        using var log = new TrainingLog(logPath);

        // 6. Conditioning. A frozen text encoder's embeddings are the same every step: compute them once.
        using var conditioner = new Conditioner(pipe, o.TrainTextEncoder, o.InstancePrompt!, o.WithPriorPreservation ? o.ClassPrompt : null, resolution);

        using var cache = o.CacheLatents ? new LatentCache(data, pipe.Vae, frozenDtype, seed) : null;

        // 7. The loop.
        var clock = Stopwatch.StartNew();
        int startStep = state.GlobalStep, micro = 0;
        double lossSum = 0, instSum = 0, priorSum = 0, lastLoss = double.NaN;
        long peak = 0;
        var (epoch, position, order) = (state.Epoch, state.Position, state.Order);
        var weightsFile = default(string);
        int step = state.GlobalStep;
        while (step < o.EffectiveMaxTrainSteps)
        {
            cancel.ThrowIfCancellationRequested();
            if (position >= order.Length)
            {
                epoch++;
                order = Permutation(orderRng, data.Count);
                position = 0;
            }
            var batch = order.Skip(position).Take(o.TrainBatchSize).ToArray();
            position += batch.Length;

            using (var scope = NewDisposeScope())
            {
                Tensor latents;
                Conditioning cond;
                if (cache is not null)
                {
                    var (mean, std, instances, classes) = cache.Batch(data, batch, o.WithPriorPreservation);
                    cond = conditioner.For(instances, classes);
                    latents = ((mean + std * Rng.RandnTensor(mean.shape, noiseGen, device)) * pipe.Vae.ScalingFactor).to(unet.ParameterDtype());
                }
                else
                {
                    (var pixels, cond) = Collate(data, batch, dataGen, conditioner, o.WithPriorPreservation);
                    using var noGrad = no_grad();
                    using var dist = pipe.Vae.Encode(pixels.to(frozenDtype));
                    latents = (dist.Sample(noiseGen).to(ScalarType.Float32) * pipe.Vae.ScalingFactor).to(unet.ParameterDtype());
                }
                var noise = Rng.RandnTensor(latents.shape, noiseGen, device, latents.dtype);
                var timesteps = randint(0, numTrainTimesteps, [latents.shape[0]], generator: noiseGen, dtype: ScalarType.Int64).to(device);
                var context = cond.Context.to(unet.ParameterDtype());
                (Tensor, Tensor)? added = cond.Added is { } a ? (a.TextEmbeds.to(unet.ParameterDtype()), a.TimeIds.to(unet.ParameterDtype())) : null;
                using var loss = TrainingStep.Compute(unet, noiseScheduler, latents, noise, timesteps, context, added,
                                                      o.WithPriorPreservation, o.PriorLossWeight);
                var value = loss.Loss.item<float>();
                if (!float.IsFinite(value))
                {
                    var last = store.List().Select(c => Path.GetFileName(c.Path)).LastOrDefault();
                    throw new DreamBoothException(
                        $"The loss became {value} at step {step + 1}: training stopped and nothing was saved from this step. " +
                        (last is null ? "No checkpoint was written yet. " : $"The last good checkpoint is {last} (resume with --resume-from-checkpoint latest). ") +
                        "Lower --learning-rate, or train in fp32.");
                }
                Checkpoint.Backward(scaler.ScaleLoss(loss.Loss / o.GradientAccumulationSteps));
                lossSum += value;
                instSum += loss.InstanceLoss.item<float>();
                priorSum += loss.PriorLoss?.item<float>() ?? 0;
            }
            if (++micro % o.GradientAccumulationSteps != 0) continue;

            // One optimizer step: unscale, clip, step (skipped by the scaler on inf/NaN gradients), schedule.
            scaler.Unscale(optimizer);
            var gradNorm = GradClip.ClipGradNorm(trainable.Select(p => p.Parameter), o.MaxGradNorm);
            var lr = schedule.LearningRateAt(step);
            optimizer.LearningRate = lr;
            scaler.Step(optimizer);
            scaler.Update();
            optimizer.ZeroGrad();
            step++;

            int n = o.GradientAccumulationSteps;
            lastLoss = lossSum / n;
            double rate = (step - startStep) / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
            peak = Math.Max(peak, Environment.WorkingSet);
            log.Write(step, lastLoss, instSum / n, o.WithPriorPreservation ? priorSum / n : null, lr, gradNorm, epoch, clock.Elapsed.TotalSeconds);
            (lossSum, instSum, priorSum) = (0, 0, 0);
            progress?.Report(new TrainProgress(step, o.EffectiveMaxTrainSteps, lastLoss, lr, rate, Environment.WorkingSet));

            var current = new TrainerState(step, epoch, position, order, seed, o.Method.ToString());
            if (step % o.CheckpointingSteps == 0)                                         // as diffusers: the last step too
                store.Save(step, current, dir => SaveCheckpoint(dir, pipe, trainable, optimizer, scaler, orderRng, generators), o.CheckpointsTotalLimit);
            if (o.ValidationPrompt is not null && step % o.ValidationSteps == 0 && step < o.EffectiveMaxTrainSteps)
                Validation.Run(pipe, o, seed, step, textEncoderTrains: o.TrainTextEncoder);
        }

        // 8. The result: LoRA weights or a full pipeline folder, validation images, loss curve, model card.
        unet.eval();
        weightsFile = o.Method == TrainMethod.Lora
            ? SaveLora(pipe, o.OutputDir, o.TrainTextEncoder, o.SaveKohya)
            : PipelineWriter.Write(pipe, o.OutputDir);
        if (o.ValidationPrompt is not null) Validation.Run(pipe, o, seed, step, textEncoderTrains: o.TrainTextEncoder);
        TrainingLog.PlotLoss(logPath, Path.Combine(o.OutputDir, "loss.png"));
        double finalRate = (step - startStep) / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
        ModelCard.Write(o, modelPath, pipe.Name, seed, step, finalRate);
        return new TrainResult(o.OutputDir, step, lastLoss, finalRate, Math.Max(peak, Environment.WorkingSet), weightsFile);
    }

    private static void Freeze(nn.Module module)
    {
        foreach (var p in module.parameters()) p.requires_grad = false;
        module.eval();
    }

    private static IEnumerable<(string Name, TorchSharp.Modules.Parameter Parameter)> Trainable(string prefix, nn.Module module) =>
        module.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (prefix + p.name, p.parameter));

    // Fisher–Yates on our resumable generator: the data order of each epoch (DataLoader shuffle=True).
    private static int[] Permutation(ResumableRandom rng, int count)
    {
        var order = Enumerable.Range(0, count).ToArray();
        for (int i = count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    // diffusers' collate_fn: instance examples first, then class examples, in one batch.
    private static (Tensor Pixels, Conditioning Cond) Collate(DreamBoothDataset data, int[] batch, Generator dataGen, Conditioner conditioner, bool prior)
    {
        var instances = new List<TrainImage>();
        var classes = new List<TrainImage>();
        foreach (var index in batch)
        {
            var (instance, cls) = data.Get(index, dataGen);
            instances.Add(instance);
            if (prior) classes.Add(cls!);
        }
        var all = instances.Concat(classes).ToList();
        var pixels = stack(all.Select(i => i.Pixels).ToArray());
        return (pixels, conditioner.For(instances, classes));
    }

    private static void SaveCheckpoint(string dir, StableDiffusionPipeline pipe, List<(string Name, TorchSharp.Modules.Parameter Parameter)> trainable,
                                       IOptimizer optimizer, GradScaler scaler, ResumableRandom orderRng, Dictionary<string, Generator> generators)
    {
        SafeTensorsWriter.Write(Path.Combine(dir, "trainable.safetensors"), trainable.ToDictionary(p => p.Name, p => (Tensor)p.Parameter));
        optimizer.Save(Path.Combine(dir, "optimizer.safetensors"));
        AtomicFile.WriteAllText(Path.Combine(dir, "scaler.json"), System.Text.Json.JsonSerializer.Serialize(scaler.State));
        RngState.Capture(orderRng, generators).Save(Path.Combine(dir, "rng.json"));
        if (LoraModel.Layers(pipe.Unet).Count > 0)
            LoraWriter.Write(Path.Combine(dir, LoraWriter.DiffusersFileName), LoraTargetsOf(pipe, withTextEncoders: LoraModel.Layers(pipe.TextEncoder).Count > 0));
    }

    private static TrainerState Restore(string checkpoint, List<(string Name, TorchSharp.Modules.Parameter Parameter)> trainable, IOptimizer optimizer,
                                        GradScaler scaler, ResumableRandom orderRng, Dictionary<string, Generator> generators)
    {
        var state = CheckpointStore.LoadState(checkpoint);
        using (var weights = SafeTensorsFile.Open(Path.Combine(checkpoint, "trainable.safetensors")))
        {
            var names = trainable.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
            var stored = weights.Tensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
            if (!names.SetEquals(stored))
                throw new DreamBoothException($"{checkpoint}: its trainable weights do not match this run's (different --method, --rank, targets or --train-text-encoder?).");
            foreach (var (name, p) in trainable) weights.ReadInto(name, p);
        }
        optimizer.Load(Path.Combine(checkpoint, "optimizer.safetensors"));
        var scalerState = System.Text.Json.JsonSerializer.Deserialize<GradScalerState>(File.ReadAllText(Path.Combine(checkpoint, "scaler.json")));
        if (scalerState is not null) scaler.Load(scalerState);
        RngState.Load(Path.Combine(checkpoint, "rng.json")).Restore(orderRng, generators);
        return state;
    }

    private static LoraTargets LoraTargetsOf(StableDiffusionPipeline pipe, bool withTextEncoders) =>
        new(pipe.Unet, withTextEncoders ? pipe.TextEncoder : null, withTextEncoders ? pipe.TextEncoder2 : null);

    private static string SaveLora(StableDiffusionPipeline pipe, string outputDir, bool withTextEncoders, bool kohya)
    {
        var path = Path.Combine(outputDir, LoraWriter.DiffusersFileName);
        LoraWriter.Write(path, LoraTargetsOf(pipe, withTextEncoders));
        if (kohya) LoraWriter.Write(Path.Combine(outputDir, "pytorch_lora_weights_kohya.safetensors"), LoraTargetsOf(pipe, withTextEncoders), format: LoraFileFormat.Kohya);
        return path;
    }
}
