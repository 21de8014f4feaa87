namespace DreamBooth.Tests.Torch;

using DreamBooth.Tests.Cli;
using DreamBooth.Tests.Training;
using DreamBooth.Torch;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

public class KernelCheckTests(ITestOutputHelper output)
{
    // oneDNN's 3×3 backward-data on AVX-512 was wrong for every out_channels % 16 != 0 (0.2–1 relative, or NaN):
    // with the process defaults every conv of the training step must match float64.
    public static TheoryData<int, int, int> ConvShapes()
    {
        var data = new TheoryData<int, int, int>();
        for (int cout = 1; cout <= 17; cout++)
        {
            data.Add(cout, 3, 1);
            data.Add(cout, 1, 1);
            data.Add(cout, 3, 2);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(ConvShapes))]
    public void Conv2d_Backward_MatchesFloat64(int outChannels, int kernel, int stride)
    {
        TorchRuntime.EnsureLoaded();
        foreach (var inChannels in new[] { 8, 32 })
        {
            var error = ConvError(inChannels, outChannels, kernel, stride);
            Assert.True(error < 1e-4, $"conv {kernel}×{kernel} stride {stride} {inChannels}→{outChannels}: relative error {error:G3}");
        }
    }

    [Fact]
    public void KernelCheck_ProcessDefaults_PassesInFp32AndBf16()
    {
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            var report = KernelCheck.Run(dtype: dtype);
            output.WriteLine($"{CpuInfo.Model}, {CpuInfo.Isa}: {report.Summary}");
            foreach (var c in report.Cases) output.WriteLine($"  {c.Op}: {c.RelativeError:E2}");
            Assert.True(report.Passed, report.Summary);
            Assert.Contains(report.Cases, c => c.Op.Contains("conv_out", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void OneDnn_IsOffByDefault()
    {
        if (Environment.GetEnvironmentVariable(NativeContext.OneDnnVariable) is not null)
        {
            output.WriteLine($"skipped: {NativeContext.OneDnnVariable} is set in this environment");
            return;
        }
        Assert.False(NativeContext.OneDnnEnabled);
    }

    [Fact]
    public void Env_ShowsIsaAndSelfCheckVerdict()
    {
        var (code, text) = CliRunner.Run("env");
        Assert.Equal(0, code);
        Assert.Contains("CPU ISA", text, StringComparison.Ordinal);
        Assert.Contains(CpuInfo.Isa, text, StringComparison.Ordinal);
        Assert.Matches(@"kernel self-check fp32\s+│?\s*ok \(14 ops", text);
    }

    internal static double ConvError(int inChannels, int outChannels, int kernel, int stride)
    {
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)(outChannels * 100 + kernel * 10 + stride));
        var x64 = randn([2, inChannels, 12, 12], ScalarType.Float64, generator: generator);
        var w64 = randn([outChannels, inChannels, kernel, kernel], ScalarType.Float64, generator: generator);
        Tensor? upstream = null;
        (Tensor Gx, Tensor Gw) Run(ScalarType dtype)
        {
            var x = x64.to(dtype).detach().requires_grad_(true);
            var w = w64.to(dtype).detach().requires_grad_(true);
            var y = F.conv2d(x, w, null, [stride, stride], [(kernel - 1) / 2, (kernel - 1) / 2]);
            upstream ??= randn(y.shape, ScalarType.Float64, generator: generator);
            (y * upstream.to(dtype)).sum().backward();
            return (x.grad!.to(ScalarType.Float64), w.grad!.to(ScalarType.Float64));
        }
        var (gx64, gw64) = Run(ScalarType.Float64);
        var (gx, gw) = Run(ScalarType.Float32);
        static double Rel(Tensor a, Tensor b) => (a - b).abs().max().item<double>() / b.abs().max().item<double>();
        return Math.Max(Rel(gx, gx64), Rel(gw, gw64));
    }
}

/// <summary>Flips oneDNN on for the process, so it runs alone.</summary>
[Collection(nameof(ProcessWideState))]
public class KernelCheckOneDnnTests(ITestOutputHelper output)
{
    [Fact]
    public void KernelCheck_WithOneDnnForcedOn_CatchesTheBrokenConvAndSwitchesItOff()
    {
        bool before = NativeContext.OneDnnEnabled;
        try
        {
            NativeContext.OneDnnEnabled = true;
            double direct = KernelCheckTests.ConvError(32, 4, 3, 1);
            var report = KernelCheck.Run();
            output.WriteLine($"{CpuInfo.Model}, {CpuInfo.Isa}, oneDNN on: conv 3×3 32→4 direct error {direct:G3}; check: {report.Summary}");
            if (direct < 1e-4)
            {
                Assert.True(report.Passed, report.Summary);
                output.WriteLine("skipped: this CPU's oneDNN computes the conv right, so there is no bug for the check to catch");
                return;
            }
            Assert.False(report.Passed);
            Assert.Contains(report.Failures, f => f.Op.StartsWith("conv 3×3 32→4", StringComparison.Ordinal));
            Assert.DoesNotContain(report.Failures, f => !f.Op.StartsWith("conv", StringComparison.Ordinal));

            var fixedReport = KernelCheck.EnsureCorrect();
            Assert.True(fixedReport.WorkaroundApplied);
            Assert.True(fixedReport.Passed, fixedReport.Summary);
            Assert.False(NativeContext.OneDnnEnabled);
            Assert.True(KernelCheckTests.ConvError(32, 4, 3, 1) < 1e-4);
        }
        finally
        {
            NativeContext.OneDnnEnabled = before;
        }
    }
}
