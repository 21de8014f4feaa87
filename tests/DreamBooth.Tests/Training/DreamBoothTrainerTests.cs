namespace DreamBooth.Tests.Training;

using System.Diagnostics;
using DreamBooth.Imaging;
using DreamBooth.IO;
using DreamBooth.Pipelines;
using DreamBooth.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>End-to-end training runs on the tiny SD 1.x pipeline (32×32 images, a few steps each).</summary>
[Collection(TrainingRuns.Name)]
public sealed class DreamBoothTrainerTests(ITestOutputHelper output) : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("trainer").FullName;

    public void Dispose()
    {
        try { Directory.Delete(root, true); } catch (IOException) { }
    }

    private string Images(string name, int count, int seed)
    {
        var dir = Path.Combine(root, name);
        Directory.CreateDirectory(dir);
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            var image = new RgbImage(48, 40);
            random.NextBytes(image.Pixels);
            PngWriter.Write(Path.Combine(dir, $"{i:D2}.png"), image);
        }
        return dir;
    }

    private TrainOptions Options(string output, int steps, TrainMethod method = TrainMethod.Lora) => new()
    {
        Method = method,
        InstanceDataDir = Images("instance", 3, 1),
        InstancePrompt = "a photo of sks dog",
        WithPriorPreservation = true,
        ClassDataDir = Images("class", 2, 2),
        ClassPrompt = "a photo of dog",
        NumClassImages = 2,
        Resolution = 32,
        RandomFlip = true,
        TrainBatchSize = 2,
        GradientAccumulationSteps = 2,
        MaxTrainSteps = steps,
        CheckpointingSteps = 2,
        Seed = 7,
        OutputDir = Path.Combine(root, output),
    };

    private static DreamBoothTrainer Trainer(TrainOptions o) => new(o, Fixtures.Path("sd15-tiny"));

    private static Dictionary<string, Tensor> Read(string file)
    {
        using var f = SafeTensorsFile.Open(file);
        return f.Tensors.ToDictionary(t => t.Name, t => f.Read(t.Name));
    }

    [Fact]
    public void Train_Lora_WritesTheFixtureLoraLayoutAndLogsEveryStep()
    {
        var o = Options("lora", 3) with { Rank = 4, ValidationPrompt = "a sks dog", ValidationSteps = 2, NumValidationImages = 2, ValidationInferenceSteps = 2 };
        var result = Trainer(o).Run();

        using var expected = SafeTensorsFile.Open(Fixtures.Path("sd15-tiny", "lora", "pytorch_lora_weights.safetensors"));
        using var actual = SafeTensorsFile.Open(result.WeightsFile!);
        Assert.Equal(expected.Tensors.Select(t => (t.Name, string.Join(",", t.Shape))).Order(),
                     actual.Tensors.Select(t => (t.Name, string.Join(",", t.Shape))).Order());

        var log = TrainingLog.Read(Path.Combine(o.OutputDir, DreamBoothTrainer.LogFile));
        Assert.Equal([1, 2, 3], log.Select(l => l.Step));
        Assert.All(log, l => Assert.True(double.IsFinite(l.Loss)));
        Assert.Contains("\"lr\":0.0001", log[0].Line);
        foreach (var file in new[] { "README.md", "loss.png", "validation/step-000002.png", "validation/step-000003.png", "checkpoint-2/trainer_state.json" })
            Assert.True(File.Exists(Path.Combine(o.OutputDir, file)), file);
        Assert.Contains("a photo of sks dog", File.ReadAllText(Path.Combine(o.OutputDir, "README.md")));

        // The file we wrote is a LoRA other tools (and our generate --lora) load.
        using var pipe = PipelineLoader.Load(Fixtures.Path("sd15-tiny"));
        var mapped = DreamBooth.Lora.LoraLoader.Apply(new DreamBooth.Lora.LoraTargets(pipe.Unet), result.WeightsFile!);
        Assert.Equal(expected.Tensors.Count / 2, mapped.Count);
    }

    [Fact]
    public void Train_KilledWithSigkillThenResumed_FinalWeightsBitwiseEqualToUninterruptedRun()
    {
        const int steps = 8;
        var straight = Trainer(Options("straight", steps)).Run();

        // The same run in a separate process, killed (SIGKILL) once it has passed a randomly chosen step. Same thread
        // count as this process (TestSetup): float reductions, hence the bits, depend on it.
        var o = Options("killed", steps);
        int killAfter = new Random().Next(3, 7);
        var cli = Path.Combine(AppContext.BaseDirectory, "DreamBooth.Cli.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
                 {
                     cli, "train", "--pretrained-model-name-or-path", Fixtures.Path("sd15-tiny"), "--instance-data-dir", o.InstanceDataDir!,
                     "--instance-prompt", o.InstancePrompt!, "--with-prior-preservation", "--class-data-dir", o.ClassDataDir!,
                     "--class-prompt", o.ClassPrompt!, "--num-class-images", "2", "--resolution", "32", "--random-flip",
                     "--train-batch-size", "2", "--gradient-accumulation-steps", "2", "--max-train-steps", steps.ToString(),
                     "--checkpointing-steps", "2", "--seed", "7", "--output-dir", o.OutputDir, "--threads", "1",
                 })
            psi.ArgumentList.Add(arg);
        using (var process = Process.Start(psi)!)
        {
            process.StandardOutput.ReadToEndAsync();
            process.StandardError.ReadToEndAsync();
            var log = Path.Combine(o.OutputDir, DreamBoothTrainer.LogFile);
            var clock = Stopwatch.StartNew();
            while (!process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(3))
            {
                if (File.Exists(log) && TrainingLog.Read(log).Count >= killAfter) break;
                Thread.Sleep(20);
            }
            Assert.False(process.HasExited, "the child finished before it could be killed");
            process.Kill(entireProcessTree: true);                                                // SIGKILL on Linux
            process.WaitForExit();
        }
        var stepsBeforeKill = TrainingLog.Read(Path.Combine(o.OutputDir, DreamBoothTrainer.LogFile)).Count;
        output.WriteLine($"killed after step {stepsBeforeKill} (target {killAfter})");
        Assert.True(stepsBeforeKill < steps);

        var resumed = Trainer(o with { ResumeFromCheckpoint = "latest" }).Run();
        var a = Read(straight.WeightsFile!);
        var b = Read(resumed.WeightsFile!);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (name, t) in a)
            Assert.True(t.equal(b[name]).all().item<bool>(), $"{name} differs after resume");
        Assert.Equal(Enumerable.Range(1, steps), TrainingLog.Read(Path.Combine(o.OutputDir, DreamBoothTrainer.LogFile)).Select(l => l.Step));
    }

    [Fact]
    public void Train_FinishedRun_ContinuesFromItsFinalCheckpointWithMoreSteps()
    {
        var o = Options("extend", 2);
        Trainer(o).Run();
        Assert.Equal([2], new CheckpointStore(o.OutputDir).List().Select(c => c.Step));   // the last step is saved too
        var more = Trainer(o with { MaxTrainSteps = 3, ResumeFromCheckpoint = "latest" }).Run();
        Assert.Equal(3, more.Steps);
        Assert.Equal([1, 2, 3], TrainingLog.Read(Path.Combine(o.OutputDir, DreamBoothTrainer.LogFile)).Select(l => l.Step));
    }

    // One image per batch, three batches per epoch: the checkpoint at step 2 falls mid-epoch, with batch 3 already
    // fetched (its random crop and flip drawn, as accelerate fetches one ahead). The resumed run must reuse that batch.
    [Fact]
    public void Train_ResumedMidEpoch_ReusesTheBatchFetchedAheadAndEndsBitwiseEqual()
    {
        var straight = Options("mid-straight", 5) with { TrainBatchSize = 1, GradientAccumulationSteps = 1 };
        var a = Read(Trainer(straight).Run().WeightsFile!);
        var first = straight with { OutputDir = Path.Combine(root, "mid-resumed"), MaxTrainSteps = 2 };
        Trainer(first).Run();
        var state = CheckpointStore.LoadState(new CheckpointStore(first.OutputDir).List()[^1].Path);
        Assert.NotNull(state.Loader.Ahead);
        Assert.Equal(2, state.Loader.AheadIndex);                                          // the third batch
        var b = Read(Trainer(first with { MaxTrainSteps = 5, ResumeFromCheckpoint = "latest" }).Run().WeightsFile!);
        foreach (var (name, t) in a)
            Assert.True(t.equal(b[name]).all().item<bool>(), $"{name} differs after a mid-epoch resume");
    }

    // Each loss option reaches the step: the first step's loss moves away from the plain run's.
    [Fact]
    public void Train_LossOptions_ChangeTheStepLoss()
    {
        double FirstLoss(string name, Func<TrainOptions, TrainOptions> with)
        {
            var o = with(Options(name, 1) with { TrainBatchSize = 1, GradientAccumulationSteps = 1 });
            Trainer(o).Run();
            return TrainingLog.Read(Path.Combine(o.OutputDir, DreamBoothTrainer.LogFile))[0].Loss;
        }
        var plain = FirstLoss("plain", o => o);
        foreach (var (name, with) in new (string, Func<TrainOptions, TrainOptions>)[]
                 {
                     ("snr", o => o with { SnrGamma = 0.01 }),
                     ("offset", o => o with { NoiseOffset = 0.5 }),
                     ("perturb", o => o with { InputPerturbation = 0.5 }),
                 })
        {
            var loss = FirstLoss(name, with);
            output.WriteLine($"{name}: {loss:R} vs plain {plain:R}");
            Assert.True(Math.Abs(loss - plain) > 1e-4 * plain, $"{name} left the loss at {loss:R}");
        }
    }

    [Fact]
    public void Train_ResolutionThatCannotFit_RefusedWithTheEstimateBeforeAnyStep()
    {
        var o = Options("huge", 2) with { Resolution = 65536 };
        var e = Assert.Throws<DreamBoothException>(() => Trainer(o).Run());
        output.WriteLine(e.Message);
        Assert.Matches(@"Training at 65536×65536 with 4 image\(s\) per step needs at least [\d.]+ GiB", e.Message);
        Assert.False(File.Exists(Path.Combine(o.OutputDir, DreamBoothTrainer.LogFile)));
    }

    [Fact]
    public void Train_NaNLoss_StopsWithClearMessageAndKeepsLastCheckpoint()
    {
        // An absurd learning rate blows the weights up within a few steps.
        var o = Options("nan", 40, TrainMethod.Full) with { LearningRate = 1e12, CheckpointingSteps = 1, MaxGradNorm = 1e30 };
        var e = Assert.Throws<DreamBoothException>(() => Trainer(o).Run());
        output.WriteLine(e.Message);
        // The weights blow up after a few updates: the loss or, first, the gradients stop being finite.
        var stop = System.Text.RegularExpressions.Regex.Match(e.Message, @"^The (loss|gradient norm) became (NaN|∞|-∞|Infinity).* at step (\d+):");
        Assert.True(stop.Success && int.Parse(stop.Groups[3].Value) > 1, e.Message);
        Assert.Contains("Lower --learning-rate", e.Message);
        Assert.DoesNotContain("not the cause", e.Message);
        Assert.Contains("resume with --resume-from-checkpoint latest", e.Message);
        var checkpoints = new CheckpointStore(o.OutputDir).List();
        Assert.NotEmpty(checkpoints);
        Assert.True(File.Exists(Path.Combine(checkpoints[^1].Path, "trainable.safetensors")));
        Assert.Empty(Directory.GetDirectories(o.OutputDir, "checkpoint-*.tmp-*"));
    }

    [Fact]
    public void Train_FirstStepGradientsNotFinite_StopsBeforeTheUpdateWithoutBlamingTheLearningRate()
    {
        // A finite loss (about 1e30) whose gradients overflow: before this check the step ran with them (the weights
        // then turn NaN, or here stay put because the clip coefficient is 0) and a NaN at step 2 blamed the learning rate.
        var o = Options("gradients", 2) with { PriorLossWeight = 1e30 };
        var e = Assert.Throws<DreamBoothException>(() => Trainer(o).Run());
        output.WriteLine(e.Message);
        Assert.Matches(@"^The gradient norm became (NaN|∞|-∞|Infinity) \(the loss was [\d.]+E\+0?30\) at step 1: ", e.Message);
        Assert.Contains("the learning rate is not the cause", e.Message);
        Assert.Contains("dreambooth env", e.Message);
        Assert.DoesNotContain("--learning-rate", e.Message);
        Assert.Empty(TrainingLog.Read(Path.Combine(o.OutputDir, DreamBoothTrainer.LogFile)));
        Assert.Empty(new CheckpointStore(o.OutputDir).List());
    }

    [Fact]
    public void Train_CorruptInstanceImage_NamedBeforeTraining_OrSkippedOnRequest()
    {
        var o = Options("corrupt", 1);
        File.WriteAllBytes(Path.Combine(o.InstanceDataDir!, "broken.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]);
        var e = Assert.Throws<DreamBoothException>(() => Trainer(o).Run());
        Assert.Contains("broken.jpg", e.Message);
        Assert.False(File.Exists(Path.Combine(o.OutputDir, DreamBoothTrainer.LogFile)));

        var warnings = new List<string>();
        var result = new DreamBoothTrainer(o with { SkipBadImages = true }, Fixtures.Path("sd15-tiny"), warn: warnings.Add).Run();
        Assert.Equal(1, result.Steps);
        Assert.Contains(warnings, w => w.Contains("broken.jpg"));
    }

    [Fact]
    public void Train_Full_WritesAPipelineFolderThatLoadsAndGenerates()
    {
        var o = Options("full", 2, TrainMethod.Full) with { Use8bitAdam = true };
        var result = Trainer(o).Run();
        using var pipe = PipelineLoader.Load(o.OutputDir);
        using var images = pipe.Generate(new GenerationRequest { Prompt = "a photo of sks dog", Steps = 2, Seed = 1 });
        Assert.Equal([1L, 3, 32, 32], images.Images.shape);
        using var before = SafeTensorsFile.Open(Fixtures.Path("sd15-tiny", "unet", "diffusion_pytorch_model.safetensors"));
        using var after = SafeTensorsFile.Open(result.WeightsFile!);
        Assert.False(before.Read("conv_in.weight").equal(after.Read("conv_in.weight")).all().item<bool>(), "the UNet did not change");
    }

    // The trainer steps the average once per optimizer step on the weights of that step (read back from a checkpoint
    // per step) and saves it as the model and, in each checkpoint, as diffusers' unet_ema folder.
    [Fact]
    public void Train_FullWithEma_AverageOfEachStepsWeightsIsTheSavedModel()
    {
        const int steps = 3;
        var o = Options("ema", steps, TrainMethod.Full) with { UseEma = true, CheckpointingSteps = 1 };
        var result = Trainer(o).Run();
        var checkpoints = new CheckpointStore(o.OutputDir).List();
        Assert.Equal(Enumerable.Range(1, steps), checkpoints.Select(c => c.Step));

        var saved = Read(result.WeightsFile!);
        var ema = Read(Path.Combine(checkpoints[^1].Path, EmaModel.UnetFolder, EmaModel.WeightsFile));
        Assert.Equal(saved.Keys.Order(), ema.Keys.Order());
        foreach (var (name, t) in saved) Assert.True(TensorAssert.Same(t, ema[name]), $"{name}: the model is not the checkpoint's average");
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoints[^1].Path, EmaModel.UnetFolder, "config.json")))!;
        Assert.Equal(steps, (int?)config["optimization_step"]);
        Assert.Equal(0.9999, (double?)config["decay"]);
        Assert.Equal("UNet2DConditionModel", (string?)config["_class_name"]);

        // e₁ = w₁, then eₖ = eₖ₋₁ − (1 − dₖ)(eₖ₋₁ − wₖ) with dₖ = min(0.9999, k/(9 + k)), in float64.
        var trained = checkpoints.Select(c => Read(Path.Combine(c.Path, "trainable.safetensors"))).ToList();
        bool differs = false;
        foreach (var name in trained[0].Keys.Where(k => k.StartsWith("unet.", StringComparison.Ordinal)).Select(k => k["unet.".Length..]))
        {
            var expected = trained[0]["unet." + name].to(ScalarType.Float64);
            for (int k = 2; k <= steps; k++)
                expected = expected - (1 - Math.Min(0.9999, k / (9.0 + k))) * (expected - trained[k - 1]["unet." + name].to(ScalarType.Float64));
            var error = TensorAssert.MaxAbsDiff(saved[name], expected);
            Assert.True(error < 1e-6, $"{name}: off the EMA recurrence by {error}");
            differs |= !TensorAssert.Same(saved[name], trained[^1]["unet." + name]);
        }
        Assert.True(differs, "the saved model is the last step's weights, not their average");
    }

    // Validation on the average puts the trained weights back bit for bit, and a resumed run restores the average.
    [Fact]
    public void Train_FullWithEma_ValidatedThenResumed_EndsBitwiseEqualToAStraightRun()
    {
        const int steps = 4;
        var straight = Options("ema-straight", steps, TrainMethod.Full) with
        {
            UseEma = true, ValidationPrompt = "a sks dog", ValidationSteps = 1, NumValidationImages = 1, ValidationInferenceSteps = 2,
        };
        var a = Trainer(straight).Run();
        var first = Options("ema-resumed", 2, TrainMethod.Full) with { UseEma = true };
        Trainer(first).Run();
        var b = Trainer(first with { MaxTrainSteps = steps, ResumeFromCheckpoint = "latest" }).Run();

        foreach (var file in new[] { Path.Combine("unet", EmaModel.WeightsFile), Path.Combine($"checkpoint-{steps}", "trainable.safetensors") })
        {
            var x = Read(Path.Combine(straight.OutputDir, file));
            var y = Read(Path.Combine(first.OutputDir, file));
            foreach (var (name, t) in x) Assert.True(TensorAssert.Same(t, y[name]), $"{file}: {name} differs");
        }
        Assert.True(File.Exists(Path.Combine(straight.OutputDir, "validation", "step-000002.png")));
        Assert.Equal(a.FinalLoss, b.FinalLoss);
    }

    // --report-to tensorboard: the event file holds train_log.jsonl's loss, lr and grad norm for every step, and the
    // validation grids, as an independent reader of the format finds them.
    [Fact]
    public void Train_ReportToTensorBoard_EventFileHoldsTheLoggedValuesAndValidationImages()
    {
        var o = Options("tb", 2) with
        {
            ReportTo = "tensorboard", ValidationPrompt = "a sks dog", ValidationSteps = 1, NumValidationImages = 1, ValidationInferenceSteps = 2,
        };
        Trainer(o).Run();
        var folder = Path.Combine(o.OutputDir, "logs", "dreambooth-lora");
        var file = Assert.Single(Directory.GetFiles(folder, "events.out.tfevents.*"));
        var events = DreamBooth.Tests.IO.TfEventReader.Read(file);
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        Assert.Equal((1L, 1), (events[1].Step, events[1].SessionStatus!.Value));        // a new run: earlier files count from step 1 no more

        var log = TrainingLog.Read(Path.Combine(o.OutputDir, DreamBoothTrainer.LogFile));
        Assert.Equal([1, 2], log.Select(l => l.Step));
        foreach (var (step, _, line) in log)
        {
            var json = System.Text.Json.Nodes.JsonNode.Parse(line)!;
            foreach (var (tag, key) in new[] { ("loss", "loss"), ("lr", "lr"), ("grad_norm", "grad_norm") })
            {
                var scalar = Assert.Single(events, e => e.Tag == tag && e.Step == step).Scalar!.Value;
                Assert.Equal((float)(double)json[key]!, scalar);
            }
        }
        foreach (var (tag, step) in new[] { ("validation", 1), ("test", 2) })
        {
            var image = Assert.Single(events, e => e.Tag == tag).Image!;
            Assert.Equal(step, Assert.Single(events, e => e.Tag == tag).Step);
            Assert.Equal(File.ReadAllBytes(Path.Combine(o.OutputDir, "validation", $"step-{step:D6}.png")), image.Encoded);
            using var decoded = SkiaSharp.SKBitmap.Decode(image.Encoded);
            Assert.Equal((decoded.Height, decoded.Width, 3), (image.Height, image.Width, image.Colorspace));
        }

        // Resumed: a second file in the folder, starting with a session start at the step after the checkpoint.
        Trainer(o with { MaxTrainSteps = 3, ResumeFromCheckpoint = "latest", ValidationPrompt = null }).Run();
        var second = Assert.Single(Directory.GetFiles(folder, "events.out.tfevents.*"), f => f != file);
        var resumed = DreamBooth.Tests.IO.TfEventReader.Read(second);
        Assert.Equal((3L, 1), (resumed[1].Step, resumed[1].SessionStatus!.Value));
        Assert.Equal([3L], resumed.Where(e => e.Tag == "loss").Select(e => e.Step));
    }

    [Fact]
    public void Train_CacheLatents_RepeatableRuns()
    {
        var cached = Trainer(Options("cached-a", 2) with { CacheLatents = true }).Run();
        var again = Trainer(Options("cached-b", 2) with { CacheLatents = true }).Run();
        Assert.Equal(cached.FinalLoss, again.FinalLoss);
        var a = Read(cached.WeightsFile!);
        var b = Read(again.WeightsFile!);
        foreach (var (name, t) in a) Assert.True(t.equal(b[name]).all().item<bool>(), name);
        Assert.True(double.IsFinite(cached.FinalLoss));
    }

    [Fact]
    public void Train_TextEncoderLora_SavesUnetAndTextEncoderAdapters()
    {
        var o = Options("te", 2) with { TrainTextEncoder = true, GradientCheckpointing = true, SaveKohya = true };
        var result = Trainer(o).Run();
        using var file = SafeTensorsFile.Open(result.WeightsFile!);
        Assert.Contains(file.Tensors, t => t.Name.StartsWith("unet.", StringComparison.Ordinal));
        Assert.Contains(file.Tensors, t => t.Name.StartsWith("text_encoder.", StringComparison.Ordinal) && t.Name.Contains("q_proj"));
        using var kohya = SafeTensorsFile.Open(Path.Combine(o.OutputDir, "pytorch_lora_weights_kohya.safetensors"));
        Assert.Contains(kohya.Tensors, t => t.Name.StartsWith("lora_te_", StringComparison.Ordinal));
        Assert.Contains(kohya.Tensors, t => t.Name.StartsWith("lora_unet_", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("bf16")]
    [InlineData("fp16")]
    public void Train_MixedPrecision_HalfFrozenWeightsFp32Adapters_FiniteLoss(string precision)
    {
        var o = Options("mp-" + precision, 2) with { MixedPrecision = precision };
        var result = Trainer(o).Run();
        Assert.True(double.IsFinite(result.FinalLoss));
        using var file = SafeTensorsFile.Open(result.WeightsFile!);
        Assert.All(file.Tensors, t => Assert.Equal("F32", t.Dtype));
    }

    [Fact]
    public void Train_ClassImagesMissing_GeneratedByTheModel()
    {
        var o = Options("gen", 1) with { ClassDataDir = Path.Combine(root, "generated"), NumClassImages = 3, SampleBatchSize = 2, ClassInferenceSteps = 2 };
        Trainer(o).Run();
        var files = Directory.GetFiles(o.ClassDataDir!, "*.png");
        Assert.Equal(3, files.Length);
        Assert.StartsWith("a photo of dog", PngText.Read(files[0])["parameters"]);
    }
}

/// <summary>Training draws LoRA initialisation and dropout from torch's process-wide generator, as PyTorch does;
/// these runs must not share the process with tests drawing from it at the same time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TrainingRuns
{
    public const string Name = "training runs";
}
