namespace DreamBooth.Tests.Cli;

using System.Diagnostics;

/// <summary>What libtorch's native start-up does, seen from a separate process (its own stderr, its own environment).</summary>
public sealed class NativeNoiseTests
{
    // libtorch printed "Could not initialize NNPACK! Reason: Unsupported hardware." for every convolution on CPUs
    // NNPACK does not support (this test's AMD EPYC among them).
    [Fact]
    public async Task Generate_InAChildProcess_WritesNothingToStderr()
    {
        var output = Directory.CreateTempSubdirectory("quiet-").FullName;
        try
        {
            var (code, _, errors) = await RunCli([], "generate", "-m", Fixtures.Path("sd15-tiny"), "-p", "a photo of a dog", "--steps", "3",
                                                 "--seed", "1", "-o", output, "--threads", "1");
            Assert.True(code == 0, $"exit {code}: {errors}");
            Assert.Equal("", errors);
            Assert.NotEmpty(Directory.GetFiles(output, "*.png"));
        }
        finally { Directory.Delete(output, true); }
    }

    // DREAMBOOTH_MKL_AMD=1 rewrites MKL's vendor check before the first GEMM; a child process starts libtorch afresh.
    [Fact]
    public async Task Env_WithMklAmdAsked_ReportsTheVectorisedKernelsOnAmd_AndTheSelfCheckPasses()
    {
        var (code, text, errors) = await RunCli(new() { ["DREAMBOOTH_MKL_AMD"] = "1", ["COLUMNS"] = "200" }, "env");
        Assert.True(code == 0, $"exit {code}: {errors}");
        Assert.Equal(DreamBooth.Torch.CpuInfo.Vendor == "AuthenticAMD", text.Contains("vectorised on this AMD CPU"));
        Assert.Contains("kernel self-check fp32 │ ok", text);
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunCli(Dictionary<string, string> environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "DreamBooth.Cli.dll"));
        foreach (var arg in args) psi.ArgumentList.Add(arg);
        foreach (var (key, value) in environment) psi.Environment[key] = value;
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
