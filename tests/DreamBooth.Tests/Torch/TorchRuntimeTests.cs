namespace DreamBooth.Tests.Torch;

using DreamBooth.Torch;
using static TorchSharp.torch;

public sealed class TorchRuntimeTests
{
    [Fact]
    public void TorchRuntime_Loads_AndComputes()
    {
        TorchRuntime.EnsureLoaded();
        using var a = tensor(new float[] { 1, 2, 3 });
        Assert.Equal(6f, a.sum().item<float>());
    }

    [Fact]
    public void ResolveDevice_Cpu_IsCpu()
    {
        Assert.Equal(TorchSharp.DeviceType.CPU, TorchRuntime.ResolveDevice("cpu").type);
    }

    [Theory]
    [InlineData("cuda")]
    [InlineData("cuda:3")]
    public void ResolveDevice_CudaAbsent_ClearError(string spec)
    {
        if (cuda.is_available()) return; // only meaningful on a CPU-only machine
        var e = Assert.Throws<DreamBoothException>(() => TorchRuntime.ResolveDevice(spec));
        Assert.Contains("CUDA is not available", e.Message);
    }

    [Fact]
    public void Mkl_VectorisedOnAmdOnlyWhenAsked_AndGemmAgreesWithFloat64()
    {
        TorchRuntime.EnsureLoaded();
        bool asked = Environment.GetEnvironmentVariable(NativeContext.MklVariable) is "1" or "on" or "true";
        Assert.Equal(asked && CpuInfo.Vendor == "AuthenticAMD" && OperatingSystem.IsLinux(), NativeContext.MklFastPaths);
        // Whatever kernel MKL picked, its GEMM agrees with float64 (sizes that take the blocked, vectorised path).
        using var scope = NewDisposeScope();
        using var generator = new TorchSharp.torch.Generator(5);
        var a = randn([300, 517], generator: generator);
        var b = randn([517, 260], generator: generator);
        var exact = a.to(ScalarType.Float64).matmul(b.to(ScalarType.Float64));
        double error = (a.matmul(b).to(ScalarType.Float64) - exact).abs().max().item<double>() / exact.abs().max().item<double>();
        Assert.True(error < 1e-5, $"relative error {error}");
        // and so do its transposed forms (a weight gradient multiplies transposed operands).
        var exactT = exact.t().matmul(exact);
        var viaT = a.matmul(b).t().matmul(a.matmul(b)).to(ScalarType.Float64);
        Assert.True((viaT - exactT).abs().max().item<double>() / exactT.abs().max().item<double>() < 1e-5);
    }

    [Fact]
    public void HugePages_OnWhereTheKernelAllowsThem_UnlessTheUserChose()
    {
        TorchRuntime.EnsureLoaded();
        const string modeFile = "/sys/kernel/mm/transparent_hugepage/enabled";
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(TorchRuntime.HugePagesVariable) is not null || !File.Exists(modeFile))
            return;                                                                   // the user's own setting, or no THP: left alone
        var mode = File.ReadAllText(modeFile);
        Assert.Equal(mode.Contains("[always]") || mode.Contains("[madvise]"), TorchRuntime.HugePages);
        // A large tensor still allocates, fills and frees as before.
        using var big = TorchSharp.torch.ones(3 << 20);
        Assert.Equal(3 << 20, big.sum().item<float>());
    }

    [Fact]
    public void ResolveDevice_Garbage_ClearError()
    {
        var e = Assert.Throws<DreamBoothException>(() => TorchRuntime.ResolveDevice("tpu"));
        Assert.Contains("use cpu, cuda or cuda:N", e.Message);
    }
}

public sealed class NativeLibraryPatchTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string? NuGetOriginal()
    {
        var root = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                   ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var path = Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        return File.Exists(path) ? path : null;
    }

    private static bool HostHasGlibcxx3432() =>
        new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6" }
            .Where(File.Exists).Any(f => System.Text.Encoding.ASCII.GetString(File.ReadAllBytes(f)).Contains("GLIBCXX_3.4.32\0"));

    [Fact]
    public void OutputCopy_DiffersFromNuGetOriginalOnlyInTheVersionFlag()
    {
        var original = NuGetOriginal();
        if (original is null || HostHasGlibcxx3432())
        {
            output.WriteLine("skipped: no NuGet copy of libLibTorchSharp.so here, or this libstdc++ has GLIBCXX_3.4.32 (no patch needed)");
            return;
        }
        var copy = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        var a = File.ReadAllBytes(original);
        var b = File.ReadAllBytes(copy);
        Assert.Equal(a.Length, b.Length);
        var diffs = Enumerable.Range(0, a.Length).Where(i => a[i] != b[i]).ToList();
        Assert.Single(diffs);                                   // vna_flags of the GLIBCXX_3.4.32 entry
        Assert.Equal(a[diffs[0]] | 0x2, b[diffs[0]]);          // VER_FLG_WEAK added, nothing else
    }

    [Fact]
    public void LoadFailure_OfTheUnpatchedLibrary_NamesTheRealCause()
    {
        var original = NuGetOriginal();
        if (original is null || HostHasGlibcxx3432())
        {
            output.WriteLine("skipped: the unpatched library loads on this machine or is not in the NuGet cache");
            return;
        }
        var reason = DreamBooth.Torch.TorchRuntime.DescribeLoadFailure(original);
        output.WriteLine(reason);
        Assert.NotNull(reason);
        Assert.Contains("GLIBCXX_3.4.32", reason);
        Assert.DoesNotContain("libtorch-cpu-linux-x64, Version", reason);
    }
}
