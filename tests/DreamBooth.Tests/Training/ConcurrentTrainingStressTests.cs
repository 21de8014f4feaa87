namespace DreamBooth.Tests.Training;

using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using DreamBooth.Imaging;
using DreamBooth.Torch;
using DreamBooth.Training;
using Xunit.Abstractions;

/// <summary>
/// Issue 13: with three trainings at once, about one run in ten stopped with a NaN loss at step 2 while every run that
/// finished gave the same weights. The cause was oneDNN's 3×3 convolution backward-data on this AVX-512 CPU (conv_out,
/// 4 output channels): its result is wrong every time (the same wrong numbers, hence identical weights) and NaN at
/// random, depending on what the memory it wrongly reads holds (measured with oneDNN forced on past the self-check:
/// NaN in 1–7 % of conv calls, a different call each run). oneDNN is now off (NativeContext) and the kernel check
/// refuses wrong kernels before training (KernelCheck). DREAMBOOTH_ONEDNN=1 cannot bring the failure back through the
/// CLI, because that check switches oneDNN off again; the runs asked to use it must therefore match the default ones.
/// </summary>
public sealed class ConcurrentTrainingStressTests(ITestOutputHelper output) : IDisposable
{
    private const int Parallel = 3;
    private readonly string root = Directory.CreateTempSubdirectory("stress-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(root, true); } catch (IOException) { }
    }

    private sealed record Setup(string Name, bool OneDnn, string[] Args);

    [Fact]
    public async Task ThirtyTinyTrainings_ThreeAtATime_AllFinite_AndSameSeedGivesIdenticalWeights()
    {
        var photos = Images("photos", 3, 1);
        var classes = Images("class", 2, 2);
        string[] common = ["-m", Fixtures.Path("sd15-tiny"), "--instance-data-dir", photos, "--instance-prompt", "a photo of sks dog",
                           "--resolution", "32", "--max-train-steps", "2", "--seed", "11", "--threads", "1"];
        string[] prior = ["--with-prior-preservation", "--class-data-dir", classes, "--class-prompt", "a photo of dog", "--num-class-images", "2"];
        Setup[] setups =
        [
            new("lora", false, common),
            new("lora-prior", false, [.. common, .. prior]),
            new("full-prior", false, [.. common, .. prior, "--method", "full"]),
            new("lora-onednn", true, common),
        ];
        // 30 runs, each wave of three mixing the setups.
        var runs = Enumerable.Range(0, 30).Select(i => (Index: i, Setup: setups[i % setups.Length])).ToList();

        var clock = Stopwatch.StartNew();
        var results = new (int Code, string Output)[runs.Count];
        using var gate = new SemaphoreSlim(Parallel);
        await Task.WhenAll(runs.Select(async run =>
        {
            await gate.WaitAsync();
            try { results[run.Index] = await Train(run.Setup, OutputDir(run.Index)); }
            finally { gate.Release(); }
        }));
        output.WriteLine($"{runs.Count} runs, {Parallel} at a time: {clock.Elapsed.TotalSeconds:0.0} s");

        var weights = new Dictionary<int, string>();
        foreach (var (i, setup) in runs)
        {
            var (code, text) = results[i];
            Assert.True(code == 0, $"run {i} ({setup.Name}) exited {code}: {text}");
            var log = TrainingLog.Read(Path.Combine(OutputDir(i), DreamBoothTrainer.LogFile));
            Assert.Equal([1, 2], log.Select(l => l.Step));
            foreach (var (step, loss, line) in log)
            {
                Assert.True(double.IsFinite(loss), $"run {i} ({setup.Name}) step {step}: loss {loss}");
                var gradNorm = JsonDocument.Parse(line).RootElement.GetProperty("grad_norm");
                Assert.True(gradNorm.ValueKind == JsonValueKind.Number, $"run {i} ({setup.Name}) step {step}: grad_norm {gradNorm}");
            }
            var file = setup.Name.StartsWith("full", StringComparison.Ordinal)
                ? Path.Combine(OutputDir(i), "unet", "diffusion_pytorch_model.safetensors")
                : Path.Combine(OutputDir(i), "pytorch_lora_weights.safetensors");
            weights[i] = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));
        }

        foreach (var group in runs.GroupBy(r => r.Setup))
        {
            var distinct = group.Select(r => weights[r.Index]).Distinct().ToList();
            output.WriteLine($"{group.Key.Name}: {group.Count()} runs, weights {string.Join(", ", distinct.Select(h => h[..12]))}");
            Assert.True(distinct.Count == 1, $"{group.Key.Name}: runs with the same seed gave {distinct.Count} different weight files");
        }
        Assert.Equal(3, runs.Where(r => !r.Setup.OneDnn).Select(r => weights[r.Index]).Distinct().Count());

        // Asked for oneDNN: where the self-check found it wrong here (and switched it off), the weights are the default
        // runs' bits; where this CPU's oneDNN is right it stays on and may round differently, so nothing is compared.
        var oneDnnRun = runs.First(r => r.Setup.OneDnn).Index;
        if (results[oneDnnRun].Output.Contains("switched off for this run", StringComparison.Ordinal))
            Assert.Equal(weights[runs.First(r => r.Setup.Name == "lora").Index], weights[oneDnnRun]);
        else
            output.WriteLine("oneDNN computes the convolutions right on this CPU: its runs are compared only with each other");
    }

    private string OutputDir(int index) => Path.Combine(root, $"run-{index:D2}");

    private async Task<(int Code, string Output)> Train(Setup setup, string outputDir)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "DreamBooth.Cli.dll"), "train", "--output-dir", outputDir }.Concat(setup.Args))
            psi.ArgumentList.Add(arg);
        psi.Environment.Remove(NativeContext.OneDnnVariable);
        if (setup.OneDnn) psi.Environment[NativeContext.OneDnnVariable] = "1";
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await stdout + await stderr);
    }

    private string Images(string name, int count, int seed)
    {
        var dir = Directory.CreateDirectory(Path.Combine(root, name)).FullName;
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            var image = new RgbImage(40, 40);
            random.NextBytes(image.Pixels);
            PngWriter.Write(Path.Combine(dir, $"{i:D2}.png"), image);
        }
        return dir;
    }
}
