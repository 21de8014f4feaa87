// Speed and memory of the main jobs on the tiny pipeline: each case runs in its own process so its peak RSS is its own.
//   dotnet run -c Release --project bench/DreamBooth.Bench [-- --steps 50 --threads 2]
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DreamBooth.Pipelines;
using DreamBooth.Torch;
using DreamBooth.Training;

var argv = args.ToList();
string Arg(string name, string fallback)
{
    int i = argv.IndexOf(name);
    return i >= 0 && i + 1 < argv.Count ? argv[i + 1] : fallback;
}
var root = FindRoot();
var model = Arg("--model", Path.Combine(root, "tests", "fixtures", "sd15-tiny"));
var photos = Arg("--photos", Path.Combine(root, "samples", "dog"));
int steps = int.Parse(Arg("--steps", "50"), CultureInfo.InvariantCulture);
int threads = int.Parse(Arg("--threads", "0"), CultureInfo.InvariantCulture);
var work = Arg("--work", Path.Combine(Path.GetTempPath(), "dreambooth-bench"));
string[] cases = ["generate", "full", "lora", "lora-8bit-ckpt", "unet-backward", "unet-backward-ckpt"];

if (argv.Count >= 2 && argv[0] == "--case")
{
    TorchRuntime.SetThreads(threads);
    var name = argv[1];
    var clock = Stopwatch.StartNew();
    double rate;
    if (name == "generate")
    {
        using var pipe = PipelineLoader.Load(model);
        var start = Stopwatch.StartNew();
        using var result = pipe.Generate(new GenerationRequest { Prompt = "a photo of sks dog", NumImages = 4, Steps = 20, Seed = 42 });
        rate = 20 / start.Elapsed.TotalSeconds;
    }
    else if (name.StartsWith("unet-backward", StringComparison.Ordinal))
    {
        // Gradient checkpointing's memory effect: one forward + backward of the UNet at batch 4, 64×64 latents.
        using var unet = DreamBooth.Models.Unets.UNet2DConditionModel.FromPretrained(Path.Combine(model, "unet"));
        unet.GradientCheckpointing = name.EndsWith("-ckpt", StringComparison.Ordinal);
        unet.train();
        var start = Stopwatch.StartNew();
        using (var scope = TorchSharp.torch.NewDisposeScope())
        {
            var x = TorchSharp.torch.randn(4, 4, 64, 64);
            var ctx = TorchSharp.torch.randn(4, 77, unet.Config.CrossAttentionDim[0]);
            var t = TorchSharp.torch.tensor(new long[] { 10, 200, 500, 900 });
            var loss = unet.forward(x, t, ctx, null).square().mean();
            Checkpoint.Backward(loss);
        }
        rate = 1 / start.Elapsed.TotalSeconds;
    }
    else
    {
        var options = new TrainOptions
        {
            Method = name == "full" ? TrainMethod.Full : TrainMethod.Lora,
            InstanceDataDir = photos,
            InstancePrompt = "a photo of sks dog",
            WithPriorPreservation = true,
            ClassDataDir = Path.Combine(work, "class"),
            ClassPrompt = "a photo of dog",
            NumClassImages = 8,
            ClassInferenceSteps = 20,
            TrainBatchSize = 2,
            GradientAccumulationSteps = 1,
            MaxTrainSteps = steps,
            CheckpointingSteps = 1000,
            Use8bitAdam = name == "lora-8bit-ckpt",
            GradientCheckpointing = name == "lora-8bit-ckpt",
            Seed = 42,
            OutputDir = Path.Combine(work, name),
        };
        rate = new DreamBoothTrainer(options, model).Run().StepsPerSecond;
    }
    using var self = Process.GetCurrentProcess();
    Console.WriteLine(JsonSerializer.Serialize(new { name, it_per_s = rate, peak_rss_mib = self.PeakWorkingSet64 / 1048576.0, wall_s = clock.Elapsed.TotalSeconds }));
    return 0;
}

Console.WriteLine($"model {model}, photos {photos}, {steps} steps, threads {(threads == 0 ? "default" : threads)}; one process per case");
Console.WriteLine($"{"case",-16} {"it/s",8} {"peak RSS",10} {"wall",8}");
foreach (var name in cases)
{
    var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
    foreach (var a in new[] { typeof(Program).Assembly.Location, "--case", name, "--model", model, "--photos", photos, "--steps", steps.ToString(CultureInfo.InvariantCulture), "--threads", threads.ToString(CultureInfo.InvariantCulture), "--work", work })
        psi.ArgumentList.Add(a);
    if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) != "dotnet") psi.ArgumentList.RemoveAt(0);
    using var child = Process.Start(psi)!;
    var lastLine = child.StandardOutput.ReadToEnd().Trim().Split('\n')[^1];
    child.WaitForExit();
    if (child.ExitCode != 0) { Console.WriteLine($"{name,-16} failed (exit {child.ExitCode})"); continue; }
    using var doc = JsonDocument.Parse(lastLine);
    var r = doc.RootElement;
    Console.WriteLine($"{name,-16} {r.GetProperty("it_per_s").GetDouble(),8:0.00} {r.GetProperty("peak_rss_mib").GetDouble(),7:0} MiB {r.GetProperty("wall_s").GetDouble(),7:0.0}s");
}
return 0;

static string FindRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "DreamBooth.slnx"))) return dir.FullName;
    return Directory.GetCurrentDirectory();
}
