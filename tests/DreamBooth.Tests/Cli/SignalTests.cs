namespace DreamBooth.Tests.Cli;

using System.Diagnostics;
using System.Runtime.InteropServices;
using DreamBooth.Tests.Imaging;
using DreamBooth.Training;

/// <summary>Signals a real `dreambooth` process gets from a container scheduler.</summary>
public sealed partial class SignalTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("cli-signals").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    [Fact]
    public async Task Train_Sigterm_StopsBetweenStepsNamesTheCheckpointExits143()
    {
        var photos = Directory.CreateDirectory(Path.Combine(dir, "photos")).FullName;
        for (int i = 0; i < 3; i++) File.WriteAllBytes(Path.Combine(photos, $"{i}.jpg"), TestImages.Jpeg(TestImages.Blobs(48, 48, i)));
        var output = Path.Combine(dir, "out");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
                 {
                     Path.Combine(AppContext.BaseDirectory, "DreamBooth.Cli.dll"), "train", "-m", Fixtures.Path("sd15-tiny"),
                     "--instance-data-dir", photos, "--instance-prompt", "sks dog", "--resolution", "32", "--train-batch-size", "1",
                     "--gradient-accumulation-steps", "1", "--max-train-steps", "200", "--checkpointing-steps", "2",
                     "--seed", "1", "--output-dir", output, "--threads", "1",
                 })
            psi.ArgumentList.Add(arg);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        while (!process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(3) && new CheckpointStore(output).List().Count == 0)
            await Task.Delay(20);
        if (process.HasExited) Assert.Fail("the child ended before the signal: " + await stderr);
        Assert.Equal(0, Kill(process.Id, 15)); // SIGTERM
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1)))
        {
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail("still running a minute after SIGTERM");
            }
        }
        var err = await stderr;
        var text = System.Text.RegularExpressions.Regex.Replace(await stdout + err, @"\s+", " "); // the console wraps long lines
        Assert.True(process.ExitCode == 143, $"exit {process.ExitCode}: {text}");
        Assert.Contains("Interrupted.", text);
        Assert.Contains("continue with --resume-from-checkpoint latest", text);
        Assert.Contains("error: terminated (SIGTERM)", err);
        Assert.NotEmpty(new CheckpointStore(output).List());
    }
}
