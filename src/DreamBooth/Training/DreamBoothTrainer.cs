// The DreamBooth training loop, readable top to bottom, after diffusers examples/dreambooth/train_dreambooth.py and
// train_dreambooth_lora.py (v0.27.2): same data pairing, noise/timestep sampling, targets, loss, accumulation,
// clipping and LR schedule; plus atomic checkpoints that resume bit-for-bit.
namespace DreamBooth.Training;

using System.Diagnostics;
using DreamBooth.Data;
using DreamBooth.Evaluation;
using DreamBooth.Imaging;
using DreamBooth.IO;
using DreamBooth.Lora;
using DreamBooth.Models;
using DreamBooth.Pipelines;
using DreamBooth.Schedulers;
using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>Progress of one optimizer step (or a phase message).</summary>
public sealed record TrainProgress(int Step, int MaxSteps, double Loss, double LearningRate, double StepsPerSecond, long MemoryBytes, string? Phase = null);

/// <summary>What training produced; <paramref name="PeakMemoryBytes"/> is the process's peak resident memory (native
/// memory included, as train_log.jsonl's peak_rss_mb); <paramref name="Recommendation"/> is the checkpoint choice of
/// --eval-at-checkpoints.</summary>
public sealed record TrainResult(string OutputDir, int Steps, double FinalLoss, double StepsPerSecond, long PeakMemoryBytes, string? WeightsFile,
                                 CheckpointRecommendation? Recommendation = null);

public sealed class DreamBoothTrainer
{
    public const string LogFile = "train_log.jsonl";

    /// <summary>Where --eval-at-checkpoints writes, inside the output folder.</summary>
    public const string EvalFolder = "eval";
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
        var seed = o.Seed ?? Rng.RandomSeed();
        Directory.CreateDirectory(o.OutputDir);
        var store = new CheckpointStore(o.OutputDir);
        store.RemoveIncomplete();
        var frozenDtype = TorchRuntime.ParseDtype(o.MixedPrecision);
        CheckKernels(frozenDtype);
        void Phase(string text) => progress?.Report(new TrainProgress(0, o.EffectiveMaxTrainSteps, double.NaN, 0, 0, 0, text));

        // 1. Models. Everything loads in fp32; frozen parts then move to the mixed-precision dtype.
        Phase("loading model");
        using var pipe = PipelineLoader.Load(modelPath, new PipelineLoadOptions { Device = device, Variant = o.Variant });
        int resolution = o.Resolution ?? pipe.DefaultSize;
        CheckFits(pipe, resolution, frozenDtype);
        if (o.EnableBucket && (resolution < o.MinBucketReso || resolution > o.MaxBucketReso))
            throw new DreamBoothException($"--enable-bucket: the training resolution {resolution} (the square bucket) is outside " +
                                          $"--min-bucket-reso {o.MinBucketReso} … --max-bucket-reso {o.MaxBucketReso}; set them around it.");
        var buckets = o.EnableBucket ? new AspectBucketOptions(resolution, o.MinBucketReso, o.MaxBucketReso, o.BucketResoSteps) : null;

        // 2. Prior preservation: the model draws its own class images when a concept's folder has too few.
        var concepts = o.Concepts();
        for (int k = 0; k < concepts.Count; k++)
        {
            if (concepts[k] is not { ClassDataDir: { } classDir, ClassPrompt: { } classPrompt }) continue;
            var of = concepts.Count == 1 ? "" : $" ({classPrompt})";
            ClassImageGenerator.Ensure(pipe, classDir, classPrompt, o.NumClassImages, o.SampleBatchSize, o.ClassInferenceSteps,
                                       TrainingState.ConceptSeed(seed, k), resolution, (done, total) => Phase($"class images {done}/{total}{of}"), cancel);
        }
        var data = new DreamBoothDataset(concepts, new DatasetOptions(resolution, o.CenterCrop, o.RandomFlip, o.SkipBadImages, o.SortFiles,
                                                                     o.NumClassImages, o.CaptionExtension, buckets), warn);
        if (concepts.Count == 1 && data.InstanceCount is < 3 or > 10)
            warn($"{data.InstanceCount} instance image(s): DreamBooth works best with 3–10 photos of the subject.");
        if (data.Captioned > 0 && data.Captioned < data.InstanceCount)
            warn($"{data.Captioned} of {data.InstanceCount} instance images have a caption ({o.CaptionExtension} file or {ImageCaptions.MetadataFile}); the others train on the instance prompt.");

        // The evaluation models load before the generator is seeded (building a model draws from it); evaluating
        // draws nothing from it (generation has its own generator), so the run is the same with or without.
        using var evalModels = o.EvalAtCheckpoints ? LoadEvaluationModels(Phase, cancel) : null;
        var evaluation = evalModels is null ? null : new CheckpointEvaluation(evalModels, EvalSettings(), Path.Combine(o.OutputDir, EvalFolder));
        double lastLoss = double.NaN;
        int reportedStep = 0;
        void Evaluate(TrainedState trained)
        {
            var text = $"evaluating {trained.Name}";
            var report = new SyncProgress<EvaluationProgress>(p => progress?.Report(
                new TrainProgress(reportedStep, o.EffectiveMaxTrainSteps, lastLoss, 0, 0, Environment.WorkingSet, $"{text}: {p.Stage} {p.Done}/{p.Total}")));
            Validation.InEvalMode(pipe, () => evaluation!.Evaluate(pipe, trained, report, cancel));
        }

        // 3. What trains (the whole UNet, or LoRA adapters; optionally the text encoder). From here on, every random
        //    draw comes from torch's global generator, in the order of diffusers' scripts (see TrainingState).
        TrainingState.SeedGlobalGenerator(seed);
        var trainable = PrepareModels(pipe, frozenDtype);
        if (evaluation is not null) Evaluate(TrainedState.Base);                   // LoRA adapters start at zero: still the base model
        // As train_text_to_image.py's --use_ema: the average starts at the base UNet and is saved with its config.
        using var ema = o.UseEma ? new EmaModel(pipe.Unet, o.EmaDecay, Path.Combine(pipe.ConfigFolder, "unet", "config.json")) : null;

        // 4. Optimizer, LR schedule (per optimizer step), loss scaling for fp16, the data loader.
        var adam = new AdamWOptions(o.EffectiveLearningRate, o.AdamBeta1, o.AdamBeta2, o.AdamWeightDecay, o.AdamEpsilon);
        using IOptimizer optimizer = o.Use8bitAdam ? new AdamW8bit(trainable.Select(p => p.Parameter), adam) : new AdamW(trainable, adam);
        var schedule = new LrSchedule(o.LrScheduler, o.LrWarmupSteps, o.EffectiveMaxTrainSteps, o.LrNumCycles, o.LrPower, o.EffectiveLearningRate);
        var noiseScheduler = (ITrainingNoiseScheduler)SchedulerRegistry.Create("DDPMScheduler", pipe.SchedulerConfig);
        int numTrainTimesteps = noiseScheduler.Config.NumTrainTimesteps ?? 1000;
        using var cache = o.CacheLatents ? new LatentCache(data, pipe.Vae, frozenDtype) : null;
        var loader = new ShuffledBatches(data.Count, o.TrainBatchSize, i => cache?.Choice ?? data.Choose(i, null),
                                         buckets is null ? null : i => data.BucketOf(i)!.Value);
        var state = new TrainingState(seed, o.Method.ToString(), trainable, optimizer, new GradScaler(enabled: o.MixedPrecision == "fp16"), loader, ema);

        // 5. Resume, or start a new log.
        var logPath = Path.Combine(o.OutputDir, LogFile);
        if (o.ResumeFromCheckpoint is { } resume)
        {
            var checkpoint = store.Find(resume);
            if (checkpoint is null) warn($"--resume-from-checkpoint {resume}: no checkpoint in {o.OutputDir}; starting a new run.");
            else
            {
                state.Restore(checkpoint);
                TrainingLog.TruncateAfter(logPath, state.GlobalStep);
                evaluation?.Resume(state.GlobalStep);
            }
        }
        else if (File.Exists(logPath)) File.Delete(logPath);
        using var log = new TrainingLog(logPath, o.ReportTo == "tensorboard" ? o.TensorBoardDir : null, state.GlobalStep);

        // 6. Conditioning. A frozen text encoder's embeddings are the same every step: compute them once.
        using var conditioner = new Conditioner(pipe, o.TrainTextEncoder, data.Prompts);

        // 7. The loop. As accelerate: the loss is divided by the accumulation count, and the optimizer steps when the
        //    count is reached or the epoch ends (the micro-batch counter then restarts).
        var clock = Stopwatch.StartNew();
        int startStep = state.GlobalStep, micro = 0, accumulated = 0, n = o.GradientAccumulationSteps;
        double lossSum = 0, instSum = 0, priorSum = 0;
        while (state.GlobalStep < o.EffectiveMaxTrainSteps)
        {
            cancel.ThrowIfCancellationRequested();
            var (batch, endOfEpoch) = loader.Next();
            using (var scope = NewDisposeScope())
            {
                using var loss = MicroBatchLoss(pipe, data, cache, conditioner, noiseScheduler, numTrainTimesteps, batch, frozenDtype);
                var value = loss.Loss.item<float>();
                if (!float.IsFinite(value)) throw NonFinite(store, $"The loss became {value}", state.GlobalStep);
                Checkpoint.Backward(state.Scaler.ScaleLoss(Ops.Div(loss.Loss, n)));
                (lossSum, instSum, priorSum, accumulated) = (lossSum + value, instSum + loss.InstanceLoss.item<float>(), priorSum + (loss.PriorLoss?.item<float>() ?? 0), accumulated + 1);
            }
            bool sync = endOfEpoch || ++micro % n == 0;
            if (endOfEpoch) micro = 0;
            if (!sync) continue;

            // One optimizer step: unscale, clip, step (skipped by the scaler on inf/NaN gradients), schedule.
            state.Scaler.Unscale(optimizer);
            var gradNorm = GradClip.ClipGradNorm(trainable.Select(p => p.Parameter), o.MaxGradNorm);
            // A finite loss can still give inf/NaN gradients (a wrong kernel did, at step 1); stepping would turn every
            // weight into NaN and blame the next step's loss. fp16's scaler skips such steps by design.
            if (!double.IsFinite(gradNorm) && !state.Scaler.Enabled)
                throw NonFinite(store, $"The gradient norm became {gradNorm} (the loss was {lossSum / accumulated:G4})", state.GlobalStep);
            var lr = schedule.LearningRateAt(state.GlobalStep);
            optimizer.LearningRate = lr;
            state.Scaler.Step(optimizer);
            state.Scaler.Update();
            optimizer.ZeroGrad();
            ema?.Step();                                                                 // every step, as after sync_gradients
            int step = reportedStep = ++state.GlobalStep;

            lastLoss = lossSum / accumulated;
            double rate = (step - startStep) / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
            log.Write(step, lastLoss, instSum / accumulated, o.WithPriorPreservation ? priorSum / accumulated : null, lr, gradNorm,
                      loader.State.Epoch, clock.Elapsed.TotalSeconds);
            (lossSum, instSum, priorSum, accumulated) = (0, 0, 0, 0);
            progress?.Report(new TrainProgress(step, o.EffectiveMaxTrainSteps, lastLoss, lr, rate, Environment.WorkingSet));

            if (step % o.CheckpointingSteps == 0)                                         // as diffusers: the last step too
            {
                var saved = store.Save(step, state.Position, dir => SaveCheckpoint(dir, state, pipe), o.CheckpointsTotalLimit);
                if (evaluation is not null) Evaluate(TrainedState.OfCheckpoint(step, saved)!);
            }
            if (o.ValidationPrompt is not null && step % o.ValidationSteps == 0 && step < o.EffectiveMaxTrainSteps)
                log.Image("validation", step, Validate(pipe, state, ema, step));
        }

        // 8. The result: LoRA weights or a full pipeline folder, validation images, loss curve, model card.
        pipe.Unet.eval();
        ema?.CopyTo();                                                                   // the saved model is the average
        var weightsFile = o.Method == TrainMethod.Lora
            ? SaveLora(pipe, o.OutputDir, o.TrainTextEncoder, o.SaveKohya)
            : PipelineWriter.Write(pipe, o.OutputDir);
        if (o.ValidationPrompt is not null) log.Image("test", state.GlobalStep, Validate(pipe, state, null, state.GlobalStep));
        CheckpointRecommendation? recommendation = null;
        if (evaluation is not null)
        {
            reportedStep = state.GlobalStep;
            if (evaluation.Points.All(p => p.Step != state.GlobalStep)) Evaluate(TrainedState.OfFinal(state.GlobalStep, o.OutputDir)!);
            recommendation = evaluation.WriteReport();
        }
        TrainingLog.PlotLoss(logPath, Path.Combine(o.OutputDir, "loss.png"));
        double finalRate = (state.GlobalStep - startStep) / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
        ModelCard.Write(o, concepts, data.Captioned, modelPath, pipe.Name, pipe.TextEncoder2 is not null, state.Seed, state.GlobalStep, finalRate);
        return new TrainResult(o.OutputDir, state.GlobalStep, lastLoss, finalRate, (long)(ProcessMemory.PeakResidentMb() * 1048576), weightsFile, recommendation);
    }

    private EvaluationModels LoadEvaluationModels(Action<string> phase, CancellationToken cancel)
    {
        phase("loading evaluation models");
        var clip = EvaluationModels.Locate(options.EvalClipModel, withTokenizer: true, cancel);
        return EvaluationModels.Load(clip, EvaluationModels.LocateDino(options.EvalDinoModel, cancel), device);
    }

    // What --eval-at-checkpoints renders: the same prompts × seeds for every state, scored against the instance photos.
    private EvaluationSettings EvalSettings()
    {
        var (identifier, classNoun) = options.EvalSubject();
        return new EvaluationSettings
        {
            Model = options.PretrainedModelNameOrPath ?? modelPath, ModelPath = modelPath, Identifier = identifier, ClassNoun = classNoun,
            PromptTemplates = options.EvalPrompts is { } file ? EvaluationPrompts.Read(file) : EvaluationPrompts.Tutorial,
            Seeds = [.. Enumerable.Range(0, options.EvalSeeds).Select(i => (ulong)i)], Steps = options.EvalInferenceSteps,
            SubjectDir = options.InstanceDataDir!, ClipModel = options.EvalClipModel, DinoModel = options.EvalDinoModel,
        };
    }


    // Validation images; with EMA, of the averaged weights (train_text_to_image.py's store, copy_to, restore).
    private string Validate(StableDiffusionPipeline pipe, TrainingState state, EmaModel? ema, int step)
    {
        string Run() => Validation.Run(pipe, options, state.Seed, step);
        return ema is null ? Run() : ema.WithAverages(Run);
    }

    // Wrong kernels would train silently on garbage gradients: check them in each dtype the step uses.
    private void CheckKernels(ScalarType frozenDtype)
    {
        foreach (var dtype in new[] { ScalarType.Float32, frozenDtype }.Distinct())
            if (KernelCheck.EnsureCorrect(device, dtype).WorkaroundApplied)
                warn($"oneDNN computed wrong {TorchRuntime.DtypeName(dtype)} gradients on this CPU ({CpuInfo.Isa}); it is switched off for this run.");
    }

    // Refuses a resolution that cannot fit before class images or steps start (it used to end in libtorch's
    // out-of-memory trace). A lower bound: three activations of the VAE encoder's first level alive at once (a resnet's
    // input, its norm, its activation), for every image the VAE encodes per step.
    private void CheckFits(StableDiffusionPipeline pipe, int resolution, ScalarType frozenDtype)
    {
        if (device.type != DeviceType.CPU) return;
        int images = options.CacheLatents ? 1 : options.TrainBatchSize * (options.WithPriorPreservation ? 2 : 1);
        double element = frozenDtype == ScalarType.Float32 ? 4 : 2;
        double needed = 3.0 * images * pipe.Vae.Config.BlockOutChannels[0] * resolution * (double)resolution * element;
        var memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;                 // physical memory, or the container's limit
        if (needed > memory)
            throw new DreamBoothException($"Training at {resolution}×{resolution} with {images} image(s) per step needs at least " +
                $"{needed / (1L << 30):0.#} GiB of memory, more than the {memory / (double)(1L << 30):0.#} GiB here; lower --resolution or --train-batch-size.");
    }

    // Freezes what does not train (in the mixed-precision dtype), adds LoRA adapters (UNet first, then the text
    // encoders: the order in which diffusers' script initialises them) and returns the trainable parameters by name.
    private List<(string Name, TorchSharp.Modules.Parameter Parameter)> PrepareModels(StableDiffusionPipeline pipe, ScalarType frozenDtype)
    {
        var o = options;
        var unet = pipe.Unet;
        var textEncoders = new nn.Module?[] { pipe.TextEncoder, pipe.TextEncoder2 }.OfType<nn.Module>().ToList();
        Freeze(pipe.Vae);
        pipe.Vae.to(frozenDtype);
        if (!o.TrainTextEncoder)
            foreach (var te in textEncoders) { Freeze(te); te.to(frozenDtype); }
        if (o.Method == TrainMethod.Lora)
        {
            unet.to(frozenDtype);
            var lora = new LoraConfig
            {
                Rank = o.Rank, Alpha = o.EffectiveLoraAlpha, Dropout = o.LoraDropout, TargetModules = o.LoraTargetModules, Dtype = ScalarType.Float32,
                Init = o.InitLoraWeights == "gaussian" ? LoraInit.Gaussian : LoraInit.Kaiming,
            };
            LoraInjector.Inject(unet, lora);
            if (o.TrainTextEncoder)
                foreach (var te in textEncoders) LoraInjector.Inject(te, lora with { TargetModules = ["q_proj", "k_proj", "v_proj", "out_proj"] });
        }
        Attention.SetKernel(unet, o.Attention == "math" ? AttentionKernel.Math : AttentionKernel.Sdpa);
        unet.GradientCheckpointing = o.GradientCheckpointing;
        unet.train();
        if (o.TrainTextEncoder)
        {
            pipe.TextEncoder.GradientCheckpointing = o.GradientCheckpointing;
            if (pipe.TextEncoder2 is { } te2) te2.GradientCheckpointing = o.GradientCheckpointing;
            foreach (var te in textEncoders) te.train();
        }
        return TrainingState.Components(pipe)
            .Where(c => c.Module == unet || o.TrainTextEncoder)
            .SelectMany(c => Trainable(c.Prefix, c.Module))
            .ToList();
    }

    // The loss of one micro-batch, drawing as the script does: the VAE posterior sample, then the noise, then the
    // timesteps, all from the global generator.
    private StepLoss MicroBatchLoss(StableDiffusionPipeline pipe, DreamBoothDataset data, LatentCache? cache, Conditioner conditioner,
                                    ITrainingNoiseScheduler noiseScheduler, int numTrainTimesteps, FetchedBatch batch, ScalarType frozenDtype)
    {
        var unet = pipe.Unet;
        bool prior = options.WithPriorPreservation;
        Tensor latents;
        Conditioning cond;
        if (cache is not null)
        {
            var (mean, std, instances, classes) = cache.Batch(data, batch.Examples, prior);
            cond = conditioner.For(instances, classes);
            latents = Ops.Mul(Ops.Add(mean, std * Rng.RandnTensor(mean.shape, null, device)), pipe.Vae.ScalingFactor).to(unet.ParameterDtype());
        }
        else
        {
            (var pixels, cond) = Collate(data, batch, conditioner, prior);
            using var noGrad = no_grad();
            using var dist = pipe.Vae.Encode(pixels.to(frozenDtype));
            latents = Ops.Mul(dist.Sample(null).to(ScalarType.Float32), pipe.Vae.ScalingFactor).to(unet.ParameterDtype());
        }
        // Then, as diffusers' train_text_to_image.py draws them: the offset noise per image and channel, the input
        // perturbation, and only then the timesteps.
        var noise = ChannelsLastNoise(latents);
        if (options.NoiseOffset > 0) noise = TrainingStep.OffsetNoise(noise, options.NoiseOffset);
        var inputNoise = options.InputPerturbation > 0 ? Ops.Add(noise, Ops.Mul(ChannelsLastNoise(latents), options.InputPerturbation)) : null;
        var timesteps = randint(0, numTrainTimesteps, [latents.shape[0]], ScalarType.Int64).to(device);
        var context = cond.Context.to(unet.ParameterDtype());
        (Tensor, Tensor)? added = cond.Added is { } a ? (a.TextEmbeds.to(unet.ParameterDtype()), a.TimeIds.to(unet.ParameterDtype())) : null;
        return TrainingStep.Compute(unet, noiseScheduler, latents, noise, timesteps, context, added, prior, options.PriorLossWeight,
                                    inputNoise, options.SnrGamma);
    }

    // torch.randn_like(model_input): in the script the latents are channels-last (the VAE encoder's attention hands back
    // an NHWC view that the following layers keep), and normal_ on such a non-contiguous tensor draws element by
    // element in memory order through the double-precision Box-Muller path: draw into an NHWC tensor the same way.
    private Tensor ChannelsLastNoise(Tensor latents)
    {
        var (b, c, h, w) = (latents.shape[0], latents.shape[1], latents.shape[2], latents.shape[3]);
        using var nhwc = empty([b, h, w, c], latents.dtype);
        using var view = nhwc.permute(0, 3, 1, 2);                                     // [B, C, H, W] with NHWC strides
        view.normal_();
        return view.contiguous().to(device);
    }

    // `updates`: optimizer steps already applied to the weights (this run and any it resumed).
    private DreamBoothException NonFinite(CheckpointStore store, string what, int updates)
    {
        var last = store.List().Select(c => Path.GetFileName(c.Path)).LastOrDefault();
        string fp32 = options.MixedPrecision == "no" ? "" : ", or train in fp32 (--mixed-precision no)";
        return new DreamBoothException(
            $"{what} at step {updates + 1}: training stopped and nothing was saved from this step. " +
            (last is null ? "No checkpoint was written yet. " : $"The last good checkpoint is {last} (resume with --resume-from-checkpoint latest). ") +
            (updates == 0
                ? "No optimizer step had run yet, so the learning rate is not the cause: the model's weights, the images or this " +
                  $"machine's tensor kernels produced it (`dreambooth env` runs the kernel self-check){fp32}."
                : $"Lower --learning-rate{fp32}."));
    }

    private static void Freeze(nn.Module module)
    {
        foreach (var p in module.parameters()) p.requires_grad = false;
        module.eval();
    }

    private static IEnumerable<(string Name, TorchSharp.Modules.Parameter Parameter)> Trainable(string prefix, nn.Module module) =>
        module.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (prefix + p.name, p.parameter));

    // diffusers' collate_fn: instance examples first, then class examples, in one batch.
    private static (Tensor Pixels, Conditioning Cond) Collate(DreamBoothDataset data, FetchedBatch batch, Conditioner conditioner, bool prior)
    {
        var instances = new List<TrainImage>();
        var classes = new List<TrainImage>();
        for (int i = 0; i < batch.Examples.Length; i++)
        {
            var (instance, cls) = data.Render(batch.Examples[i], batch.Choices[i]);
            instances.Add(instance);
            if (prior) classes.Add(cls!);
        }
        var pixels = stack(instances.Concat(classes).Select(i => i.Pixels).ToArray());
        return (pixels, conditioner.For(instances, classes));
    }

    private static void SaveCheckpoint(string dir, TrainingState state, StableDiffusionPipeline pipe)
    {
        state.Save(dir);
        if (LoraModel.Layers(pipe.Unet).Count > 0)
            LoraWriter.Write(Path.Combine(dir, LoraWriter.DiffusersFileName), LoraTargetsOf(pipe, withTextEncoders: LoraModel.Layers(pipe.TextEncoder).Count > 0));
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
