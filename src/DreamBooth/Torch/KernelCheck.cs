// CPUs differ, and so do the kernels libtorch picks on them: on AVX-512 CPUs oneDNN's 3×3 convolution backward-data
// is wrong whenever out_channels % 16 != 0 (relative error 0.2–1 or NaN, found on AMD EPYC with avx512_bf16), which
// is the UNet's conv_out → 4 latent channels: every gradient upstream of it would be garbage. No matching upstream
// oneDNN/PyTorch report was found (2026-12). This check runs each op of a training step at the model's channel
// counts in the training dtype and in float64 on tiny inputs, and compares outputs and gradients.
namespace DreamBooth.Torch;

using System.Diagnostics;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

/// <summary>One op of the self-check: its worst relative error (max |x − x64| / max |x64|) over output and gradients.</summary>
public sealed record KernelCheckCase(string Op, double RelativeError, double Tolerance, string? Error = null)
{
    public bool Passed => Error is null && RelativeError <= Tolerance;   // NaN fails
}

/// <summary>The verdict of <see cref="KernelCheck"/> for one device and dtype.</summary>
public sealed record KernelCheckReport(string Device, ScalarType Dtype, bool OneDnn, IReadOnlyList<KernelCheckCase> Cases,
                                       TimeSpan Elapsed, bool WorkaroundApplied = false)
{
    public bool Passed => Cases.All(c => c.Passed);

    public IEnumerable<KernelCheckCase> Failures => Cases.Where(c => !c.Passed);

    /// <summary>One line: "ok (14 ops, fp32, oneDNN off, 6 ms)" or the failing ops.</summary>
    public string Summary
    {
        get
        {
            var setup = $"{Cases.Count} ops, {TorchRuntime.DtypeName(Dtype)}, oneDNN {(OneDnn ? "on" : "off")}, {Elapsed.TotalMilliseconds:0} ms";
            if (Passed) return WorkaroundApplied ? $"ok after switching oneDNN off ({setup})" : $"ok ({setup})";
            return $"WRONG: {string.Join("; ", Failures.Select(f => f.Error is null ? $"{f.Op} off by {f.RelativeError:G2}" : $"{f.Op}: {f.Error}"))} ({setup})";
        }
    }
}

/// <summary>
/// A kernel self-check run once per process before training: float32 (or the mixed-precision dtype) against float64.
/// <see cref="EnsureCorrect"/> switches oneDNN off when it is on and wrong, and refuses to train when the ops stay wrong.
/// </summary>
public static class KernelCheck
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<(string, ScalarType), KernelCheckReport> Verified = [];

    // Channel counts of SD's UNet/VAE (320, 4 latents, 3 pixels) and of the tiny test models (32, 64); conv_out-like
    // convs with few output channels are the ones that broke. Inputs are small so the whole check takes milliseconds.
    private static readonly (string Op, long[][] Shapes, Func<Tensor[], Tensor> Run)[] Cases =
    [
        Conv("conv 3×3 320→4 (UNet conv_out)", 320, 4, 3, 1, 4),
        Conv("conv 3×3 32→4", 32, 4, 3, 1, 8),
        Conv("conv 3×3 32→3 (VAE conv_out)", 32, 3, 3, 1, 8),
        Conv("conv 3×3 4→32 (conv_in)", 4, 32, 3, 1, 8),
        Conv("conv 3×3 32→32", 32, 32, 3, 1, 8),
        Conv("conv 3×3 stride 2 32→32 (downsample)", 32, 32, 3, 2, 8),
        Conv("conv 3×3 stride 2 64→64 (downsample)", 64, 64, 3, 2, 8),
        Conv("conv 1×1 32→64", 32, 64, 1, 1, 8),
        ("group norm 32 groups × 2 channels", [[2, 64, 4, 4], [64], [64]], x => F.group_norm(x[0], 32, x[1], x[2], 1e-5)),
        ("layer norm 64", [[2, 7, 64], [64], [64]], x => F.layer_norm(x[0], [64], x[1], x[2], 1e-5)),
        ("linear 64→40", [[2, 7, 64], [40, 64], [40]], x => F.linear(x[0], x[1], x[2])),
        ("linear 64→4→64 (LoRA)", [[2, 7, 64], [4, 64], [64, 4]], x => F.linear(F.linear(x[0], x[1]), x[2])),
        ("attention 2 heads × 40, 16×77 tokens", [[1, 2, 16, 40], [1, 2, 77, 40], [1, 2, 77, 40]],
            x => F.scaled_dot_product_attention(x[0], x[1], x[2])),
        ("silu, gelu", [[2, 64]], x => F.silu(x[0]) + F.gelu(x[0])),
    ];

    /// <summary>Runs the check with the current backend settings (no caching, nothing switched).</summary>
    public static KernelCheckReport Run(Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        TorchRuntime.EnsureLoaded();
        device ??= CPU;
        var clock = Stopwatch.StartNew();
        double tolerance = dtype == ScalarType.Float32 ? 1e-4 : 5e-2;   // measured: ~1e-7 in fp32, ≤ 1e-2 in bf16
        var results = new List<KernelCheckCase>();
        using var generator = new Generator(20261202);                 // private: the global stream stays untouched
        foreach (var (op, shapes, run) in Cases)
        {
            try { results.Add(new KernelCheckCase(op, Compare(shapes, run, device, dtype, generator), tolerance)); }
            catch (Exception e) when (e is ExternalException or ArgumentException or InvalidOperationException)
            {
                results.Add(new KernelCheckCase(op, double.NaN, tolerance, e.Message.Split('\n')[0]));
            }
        }
        return new KernelCheckReport(device.ToString(), dtype, NativeContext.OneDnnEnabled, results, clock.Elapsed);
    }

    /// <summary>
    /// Once per process, device and dtype: runs the check; when it fails on the CPU with oneDNN on, switches oneDNN off
    /// for the process and checks again. Throws a <see cref="DreamBoothException"/> naming the ops and the CPU when
    /// the ops are still wrong.
    /// </summary>
    public static KernelCheckReport EnsureCorrect(Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        device ??= CPU;
        lock (Gate)
        {
            if (Verified.TryGetValue((device.ToString(), dtype), out var known) && known.OneDnn == NativeContext.OneDnnEnabled) return known;
            var report = Run(device, dtype);
            if (!report.Passed && device.type == DeviceType.CPU && report.OneDnn)
            {
                NativeContext.OneDnnEnabled = false;
                report = Run(device, dtype) with { WorkaroundApplied = true };
            }
            if (!report.Passed)
                throw new DreamBoothException(
                    $"The tensor engine computes wrong results on this machine ({CpuInfo.Model}, {CpuInfo.Isa}, {device}): {report.Summary}. " +
                    (dtype == ScalarType.Float32
                        ? "Training would learn from wrong gradients; please report this with the output of `dreambooth env`."
                        : $"Train in fp32 instead (--mixed-precision no): {TorchRuntime.DtypeName(dtype)} kernels are wrong here."));
            Verified[(device.ToString(), dtype)] = report with { WorkaroundApplied = false };  // said once per process
            return report;
        }
    }

    // Runs op(inputs) and the backward of Σ op · g in `dtype` and in float64; the worst relative error of the
    // output and of each input's gradient.
    private static double Compare(long[][] shapes, Func<Tensor[], Tensor> run, Device device, ScalarType dtype, Generator generator)
    {
        using var scope = NewDisposeScope();
        var inputs = shapes.Select(s => randn(s, ScalarType.Float64, generator: generator)).ToArray();
        var (output64, upstream, grads64) = Evaluate(inputs, run, device, ScalarType.Float64, generator, null);
        var (output, _, grads) = Evaluate(inputs, run, device, dtype, generator, upstream);
        double worst = RelativeError(output, output64);
        for (int i = 0; i < grads.Length; i++) worst = Math.Max(worst, RelativeError(grads[i], grads64[i]));
        return worst;
    }

    private static (Tensor Value, Tensor Upstream, Tensor[] Grads) Evaluate(Tensor[] inputs, Func<Tensor[], Tensor> run, Device device,
                                                                    ScalarType dtype, Generator generator, Tensor? upstream)
    {
        using var grad = enable_grad();
        var leaves = inputs.Select(x => x.to(dtype, device).detach().requires_grad_(true)).ToArray();
        var output = run(leaves);
        upstream ??= randn(output.shape, ScalarType.Float64, generator: generator);
        (output * upstream.to(dtype, device)).sum().backward();
        return (output.detach().to(ScalarType.Float64, CPU), upstream, leaves.Select(l => l.grad!.to(ScalarType.Float64, CPU)).ToArray());
    }

    private static double RelativeError(Tensor actual, Tensor expected)
    {
        double scale = expected.abs().max().item<double>();
        double diff = (actual - expected).abs().max().item<double>();   // NaN propagates: a NaN gradient fails
        return diff / Math.Max(scale, 1e-30);
    }

    private static (string, long[][], Func<Tensor[], Tensor>) Conv(string op, long cin, long cout, long k, long stride, long size) =>
        (op, [[2, cin, size, size], [cout, cin, k, k], [cout]],
         x => F.conv2d(x[0], x[1], x[2], [stride, stride], [(k - 1) / 2, (k - 1) / 2]));
}
