namespace DreamBooth.Tests.Training;

using System.Runtime.InteropServices;
using DreamBooth.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

/// <summary>Measures native heap use (glibc mallinfo2: bytes in use, all arenas plus mmapped chunks, which is
/// where libtorch's CPU allocator gets tensors from). Runs alone so other tests' tensors do not interfere.</summary>
[Collection(nameof(ProcessWideState))]
public sealed partial class CheckpointMemoryTests(ITestOutputHelper output)
{
    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [LibraryImport("libc", EntryPoint = "mallinfo2")]
    private static partial MallInfo2 NativeMallInfo2();

    private static long InUse()
    {
        var m = NativeMallInfo2();
        return (long)(m.Uordblks + m.Hblkhd);
    }

    private static long peak;

    // Memory-heavy, compute-light block (its elementwise ops save ~5 activations of the input's size).
    private static Tensor Block(Tensor x, Tensor scale)
    {
        using var scope = NewDisposeScope();
        var h = (x * scale).tanh();
        h = h * x.sigmoid();
        h = (h + 0.5).exp() * 0.1;
        var y = x + h.sin();
        // At the end of a block all its activations are alive: in a checkpoint's recomputation that is the peak.
        peak = Math.Max(peak, InUse());
        return y.MoveToOuterDisposeScope();
    }

    private (long AfterForward, long Peak) Measure(bool checkpointed, List<Parameter> scales, Tensor input)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var scope = NewDisposeScope();
        foreach (var s in scales) s.grad = null;
        long baseline = InUse();
        peak = baseline;
        var h = input;
        foreach (var s in scales)
        {
            h = checkpointed ? Checkpoint.Run(xs => Block(xs[0]!, xs[1]!), [h, s]) : Block(h, s);
        }
        var loss = h.sum();
        long afterForward = InUse() - baseline;
        peak = Math.Max(peak, InUse());
        loss.backward();
        return (afterForward, peak - baseline);
    }

    [Fact]
    public void Run_DeepStack_HoldsLessMemoryThanPlainBackward()
    {
        const int depth = 6;
        using var input = randn(4, 256, 256); // 1 MiB
        var scales = Enumerable.Range(0, depth).Select(i => new Parameter(full(256, 0.5 + 0.01 * i))).ToList();
        Measure(false, scales, input); // warm up allocator and kernels
        var plain = Measure(false, scales, input);
        var ckpt = Measure(true, scales, input);
        const double MiB = 1 << 20;
        output.WriteLine($"{depth} blocks, 1 MiB activations: held after forward {plain.AfterForward / MiB:F1} MiB plain vs " +
            $"{ckpt.AfterForward / MiB:F1} MiB checkpointed; peak during backward {plain.Peak / MiB:F1} vs {ckpt.Peak / MiB:F1} MiB");
        // Plain keeps every block's saved activations (5 per block); checkpointed keeps its output plus the
        // uninitialised output-sized buffer TorchSharp's custom Function allocates per output (2 per block).
        Assert.True(ckpt.AfterForward < plain.AfterForward / 2, $"after forward: {ckpt.AfterForward} vs {plain.AfterForward} bytes");
        Assert.True(ckpt.Peak < plain.Peak, $"peak: {ckpt.Peak} vs {plain.Peak} bytes");
        foreach (var s in scales) s.Dispose();
    }
}
