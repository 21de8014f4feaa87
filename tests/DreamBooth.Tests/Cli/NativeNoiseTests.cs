namespace DreamBooth.Tests.Cli;

using System.Diagnostics;

public sealed class NativeNoiseTests
{
    // libtorch printed "Could not initialize NNPACK! Reason: Unsupported hardware." for every convolution on CPUs
    // NNPACK does not support (this test's AMD EPYC among them); a separate process sees libtorch's own stderr.
    [Fact]
    public async Task Generate_InAChildProcess_WritesNothingToStderr()
    {
        var output = Directory.CreateTempSubdirectory("quiet-").FullName;
        try
        {
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "DreamBooth.Cli.dll"), "generate", "-m", Fixtures.Path("sd15-tiny"),
                                        "-p", "a photo of a dog", "--steps", "3", "--seed", "1", "-o", output, "--threads", "1" })
                psi.ArgumentList.Add(arg);
            using var process = Process.Start(psi)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            await process.WaitForExitAsync(timeout.Token);
            var errors = await stderr;
            await stdout;
            Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {errors}");
            Assert.Equal("", errors);
            Assert.NotEmpty(Directory.GetFiles(output, "*.png"));
        }
        finally { Directory.Delete(output, true); }
    }

    // DREAMBOOTH_MKL_AMD=1 rewrites MKL's vendor check before the first GEMM; a child process starts libtorch afresh.
    [Fact]
    public async Task Env_WithMklAmdAsked_ReportsTheVectorisedKernelsOnAmd_AndTheSelfCheckPasses()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "DreamBooth.Cli.dll"));
        psi.ArgumentList.Add("env");
        psi.Environment["DREAMBOOTH_MKL_AMD"] = "1";
        psi.Environment["COLUMNS"] = "200";
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        var text = await stdout;
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {await stderr}");
        bool amd = DreamBooth.Torch.CpuInfo.Vendor == "AuthenticAMD";
        Assert.Equal(amd, text.Contains("vectorised on this AMD CPU"));
        Assert.Contains("kernel self-check fp32 │ ok", text);
    }
}
