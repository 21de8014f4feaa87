namespace DreamBooth.Tests.Training;

using System.Text.Json;
using DreamBooth.IO;
using DreamBooth.Lora;
using DreamBooth.Pipelines;
using DreamBooth.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>
/// Whole runs of diffusers' unmodified train_dreambooth(_lora).py (tests/fixtures/train_runs): same flags, same seed,
/// same per-step losses, LoRA initialisation bit for bit, and final weights within the fixture README's tolerances.
/// </summary>
[Collection(TrainingRuns.Name)]
public sealed class TrainRunParityTests(ITestOutputHelper output) : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("train-runs").FullName;

    public void Dispose()
    {
        try { Directory.Delete(root, true); } catch (IOException) { }
    }

    public static TheoryData<string, string, string, int, bool> Runs => new()
    {
        { "lora-sd15", "sd15-tiny", "lora", 8, false },
        { "lora-sd2v", "sd2-tiny-v", "lora", 8, false },
        { "full-sd15", "sd15-tiny", "full", 4, false },
        { "lora-te-sd15", "sd15-tiny", "lora", 8, true },
    };

    // The fixture README's common flags.
    private TrainOptions Options(string run, string method, int steps, bool trainTextEncoder)
    {
        var inputs = Fixtures.Path("train_runs", "inputs");
        foreach (var dir in new[] { "instance", "class" })
        {
            Directory.CreateDirectory(Path.Combine(root, dir));
            foreach (var file in Directory.GetFiles(Path.Combine(inputs, dir))) File.Copy(file, Path.Combine(root, dir, Path.GetFileName(file)));
        }
        return new TrainOptions
        {
            Method = method == "full" ? TrainMethod.Full : TrainMethod.Lora,
            InstanceDataDir = Path.Combine(root, "instance"),
            ClassDataDir = Path.Combine(root, "class"),
            WithPriorPreservation = true,
            PriorLossWeight = 1.0,
            NumClassImages = 1,
            InstancePrompt = "a photo of sks dog",
            ClassPrompt = "a photo of dog",
            Resolution = 32,
            TrainBatchSize = 1,
            GradientAccumulationSteps = 1,
            LearningRate = 1e-3,
            LrScheduler = "constant",
            CheckpointingSteps = 4,
            Seed = 42,
            MaxTrainSteps = steps,
            Rank = 4,
            TrainTextEncoder = trainTextEncoder,
            Attention = "math",                      // the reference ran diffusers' AttnProcessor (PyTorch 1.13)
            OutputDir = Path.Combine(root, "out-" + run),
        };
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void Train_SameFlagsAndSeed_ReproducesTheDiffusersScriptStepByStep(string run, string pipeline, string method, int steps, bool te)
    {
        var o = Options(run, method, steps, te);
        var result = new DreamBoothTrainer(o, Fixtures.Path(pipeline)).Run();
        Assert.Equal(steps, result.Steps);

        using var reference = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("train_runs", run, "run.json")));
        var expected = reference.RootElement.GetProperty("steps").EnumerateArray().ToList();
        var logged = TrainingLog.Read(Path.Combine(o.OutputDir, DreamBoothTrainer.LogFile)).Select(l => JsonDocument.Parse(l.Line).RootElement).ToList();
        Assert.Equal(expected.Count, logged.Count);
        // The fixture names the two F.mse_loss calls of a step in call order; train_dreambooth.py (full) computes the
        // prior term first, train_dreambooth_lora.py the instance term first.
        var (first, second) = method == "full" ? ("prior_loss", "instance_loss") : ("instance_loss", "prior_loss");
        for (int i = 0; i < expected.Count; i++)
        {
            foreach (var (key, theirs) in new[] { ("loss", "loss"), (first, "instance_loss"), (second, "prior_loss"), ("grad_norm", "grad_norm") })
            {
                double want = expected[i].GetProperty(theirs).GetDouble(), got = logged[i].GetProperty(key).GetDouble();
                output.WriteLine($"{run} step {i + 1} {key}: {got:R} vs {want:R}");
                Assert.True(Math.Abs(got - want) <= 1e-5 * Math.Abs(want), $"{run} step {i + 1}: {key} {got:R}, diffusers {want:R}");
            }
            Assert.Equal(expected[i].GetProperty("lr").GetDouble(), logged[i].GetProperty("lr").GetDouble());
        }

        if (method == "lora")
            AssertClose(Path.Combine(o.OutputDir, "pytorch_lora_weights.safetensors"),
                        Fixtures.Path("train_runs", run, "output", "pytorch_lora_weights.safetensors"), 1e-5, 1e-5, 0);
        else
        {
            // README: ≤ 1e-5 on all but 0.01 % of the elements, ≤ 1e-4 everywhere (AdamW amplifies summation order).
            AssertClose(Path.Combine(o.OutputDir, "unet", "diffusion_pytorch_model.safetensors"),
                        Fixtures.Path("train_runs", run, "output", "unet", "diffusion_pytorch_model.safetensors"), 1e-5, 1e-4, 1e-4);
            // The scheduler is re-saved with every key resolved, byte for byte as the script writes it.
            Assert.Equal(File.ReadAllText(Fixtures.Path("train_runs", run, "output", "scheduler", "scheduler_config.json")),
                         File.ReadAllText(Path.Combine(o.OutputDir, "scheduler", "scheduler_config.json")));
        }
    }

    // The script's own command line (run.json argv), flags in kebab case, through the CLI.
    [Fact]
    public void Cli_TheScriptsCommandLine_ReproducesItsLosses()
    {
        const string run = "lora-sd2v";
        var o = Options(run, "lora", 8, false);
        using var reference = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("train_runs", run, "run.json")));
        var argv = reference.RootElement.GetProperty("argv").EnumerateArray().Select(a => a.GetString()!).ToList();
        var args = new List<string> { "train", "--attention", "math", "--threads", "1" };
        for (int i = 0; i < argv.Count; i++)
        {
            var flag = argv[i];
            if (flag == "--dataloader_num_workers") { i++; continue; }                     // no worker processes here
            var value = i + 1 < argv.Count && !argv[i + 1].StartsWith("--", StringComparison.Ordinal) ? argv[++i] : null;
            args.Add(flag.Replace('_', '-'));
            if (value is null) continue;
            args.Add(flag switch
            {
                "--pretrained_model_name_or_path" => Fixtures.Path("sd2-tiny-v"),
                "--instance_data_dir" => o.InstanceDataDir!,
                "--class_data_dir" => o.ClassDataDir!,
                "--output_dir" => o.OutputDir,
                _ => value,
            });
        }
        var (code, text) = DreamBooth.Tests.Cli.CliRunner.Run([.. args]);
        Assert.True(code == 0, text);
        var expected = reference.RootElement.GetProperty("steps").EnumerateArray().Select(e => e.GetProperty("loss").GetDouble()).ToList();
        var logged = TrainingLog.Read(Path.Combine(o.OutputDir, DreamBoothTrainer.LogFile)).Select(l => l.Loss).ToList();
        Assert.Equal(expected.Count, logged.Count);
        for (int i = 0; i < expected.Count; i++)
            Assert.True(Math.Abs(logged[i] - expected[i]) <= 1e-5 * expected[i], $"step {i + 1}: loss {logged[i]:R}, diffusers {expected[i]:R}");
    }

    [Theory]
    [InlineData("lora-sd15", "sd15-tiny", false)]
    [InlineData("lora-sd2v", "sd2-tiny-v", false)]
    [InlineData("lora-te-sd15", "sd15-tiny", true)]
    public void LoraInit_SeededAfterLoading_BitEqualToPeftGaussianInit(string run, string pipeline, bool te)
    {
        using var pipe = PipelineLoader.Load(Fixtures.Path(pipeline));
        TrainingState.SeedGlobalGenerator(42);
        var config = new LoraConfig { Rank = 4, Alpha = 4, Init = LoraInit.Gaussian, Dtype = ScalarType.Float32 };
        LoraInjector.Inject(pipe.Unet, config);
        if (te) LoraInjector.Inject((nn.Module)pipe.TextEncoder, config with { TargetModules = ["q_proj", "k_proj", "v_proj", "out_proj"] });
        var path = Path.Combine(root, "init.safetensors");
        LoraWriter.Write(path, new LoraTargets(pipe.Unet, te ? (nn.Module)pipe.TextEncoder : null, null));
        AssertClose(path, Fixtures.Path("train_runs", run, "init", "pytorch_lora_weights.safetensors"), 0, 0, 0);
    }

    // Same keys and shapes; |a − b| ≤ tight except on at most `share` of the elements, and ≤ loose everywhere.
    private void AssertClose(string actualFile, string expectedFile, double tight, double loose, double share)
    {
        using var actual = SafeTensorsFile.Open(actualFile);
        using var expected = SafeTensorsFile.Open(expectedFile);
        Assert.Equal(expected.Tensors.Select(t => t.Name).Order(), actual.Tensors.Select(t => t.Name).Order());
        long total = 0, over = 0;
        double worst = 0;
        foreach (var t in expected.Tensors)
        {
            using var scope = NewDisposeScope();
            var e = expected.Read(t.Name).to(ScalarType.Float64);
            var a = actual.Read(t.Name).to(ScalarType.Float64);
            Assert.Equal(e.shape, a.shape);
            var diff = (a - e).abs();
            worst = Math.Max(worst, diff.max().item<double>());
            over += (diff > tight).sum().item<long>();
            total += e.numel();
        }
        output.WriteLine($"{Path.GetFileName(actualFile)}: max |diff| {worst:E2}, {over} of {total} elements > {tight:E0}");
        Assert.True(worst <= loose, $"max |diff| {worst:E2} > {loose:E0}");
        Assert.True(over <= share * total, $"{over} of {total} elements differ by more than {tight:E0}");
    }
}
