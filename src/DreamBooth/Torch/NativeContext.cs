// Switches of libtorch's global context (at::globalContext()) that TorchSharp 0.107 does not wrap:
// torch.backends.mkldnn.enabled and torch.backends.nnpack.enabled in PyTorch.
namespace DreamBooth.Torch;

using System.Runtime.InteropServices;
using TorchSharp;

/// <summary>Process-wide libtorch backend switches, reached through libtorch_cpu's exported C++ symbols.</summary>
public static unsafe class NativeContext
{
    private static readonly Lock Gate = new();
    private static nint context;
    private static delegate* unmanaged<nint, byte> getMkldnn;
    private static delegate* unmanaged<nint, byte, void> setMkldnn;
    private static delegate* unmanaged<nint, byte, void> setNnpack;

    /// <summary>Whether libtorch may route CPU convolutions (and some bf16 ops) through oneDNN.</summary>
    public static bool OneDnnEnabled
    {
        get { TorchRuntime.EnsureLoaded(); Bind(); return getMkldnn(context) != 0; }
        set { TorchRuntime.EnsureLoaded(); Bind(); setMkldnn(context, value ? (byte)1 : (byte)0); }
    }

    /// <summary>Set by <c>DREAMBOOTH_ONEDNN=1</c>: keep oneDNN on for CPU convolutions (the kernel check still guards training).</summary>
    public const string OneDnnVariable = "DREAMBOOTH_ONEDNN";

    // Called once by TorchRuntime when libtorch has started.
    // oneDNN is off by default. Measured on a 2-core AMD EPYC (AVX-512), SD 1.5 UNet shape, latents 32×32, fp32:
    // forward 4.3–4.8 s with oneDNN vs 1.9–2.1 s without, forward + backward 21–23 s vs 11.7–13.6 s, although an
    // isolated 3×3 conv 320→320 is 2.4× faster in oneDNN (layout reorders around every conv cost more than they save);
    // and there its conv backward-data is wrong for out_channels % 16 != 0 (see KernelCheck). Off is both right and faster.
    internal static void ApplyDefaults()
    {
        Bind();
        // NNPACK off: on CPUs it does not support, every convolution that would try it prints "Could not initialize
        // NNPACK! Reason: Unsupported hardware" to stderr, then falls back to the same kernel it would pick without it.
        setNnpack(context, 0);
        setMkldnn(context, Environment.GetEnvironmentVariable(OneDnnVariable) is "1" or "on" or "true" ? (byte)1 : (byte)0);
        MklFastPaths = CpuInfo.Vendor == "AuthenticAMD" && Environment.GetEnvironmentVariable(MklVariable) is "1" or "on" or "true"
                       && AllowMklFastPathsOnAmd();
    }

    /// <summary>
    /// Set <c>DREAMBOOTH_MKL_AMD=1</c> to let MKL use its vectorised kernels on AMD CPUs. Not the default: their other
    /// summation order moves one reference training run (diffusers' lora-sd15) past its parity tolerance (1.13e-5
    /// against 1e-5 on 1 of 24,320 weights; MKL's generic kernels: 7.2e-6).
    /// </summary>
    public const string MklVariable = "DREAMBOOTH_MKL_AMD";

    /// <summary>Whether MKL was told it may use its fast kernels on this (AMD) CPU.</summary>
    public static bool MklFastPaths { get; private set; }

    // MKL, linked into libtorch_cpu, picks its vectorised GEMM kernels only on CPUs that call themselves GenuineIntel and
    // falls back to generic ones elsewhere; it asks its exported mkl_serv_intel_cpu_true(), which libtorch calls through
    // the dynamic linker. Making it return 1 (the usual LD_PRELOAD workaround, done in place here) lets MKL choose by
    // the CPU's instruction sets alone. Measured on a 2-core AMD EPYC (AVX-512), fp32 GEMM 2048³: 131 → 246 GFLOP/s.
    // Runs before the first GEMM, whose kernel choice MKL keeps. The function body is rewritten to `mov eax, 1; ret`.
    private static bool AllowMklFastPathsOnAmd()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return false;
        if (!NativeLibrary.TryGetExport(LoadTorchCpu(), "mkl_serv_intel_cpu_true", out var function)) return false;
        ReadOnlySpan<byte> code = [0xB8, 0x01, 0x00, 0x00, 0x00, 0xC3];
        long page = Environment.SystemPageSize;
        nint start = (nint)((long)function & ~(page - 1));
        nuint length = (nuint)((long)function + code.Length - start);
        const int read = 1, write = 2, execute = 4;
        if (MProtect(start, length, read | write | execute) != 0) return false;   // hardened kernels may refuse: keep MKL as is
        code.CopyTo(new Span<byte>((void*)function, code.Length));
        _ = MProtect(start, length, read | execute);
        return true;
    }

    [DllImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static extern int MProtect(nint address, nuint length, int protection);

    private static void Bind()
    {
        if (context != 0) return;
        lock (Gate)
        {
            if (context != 0) return;
            var lib = LoadTorchCpu();
            // Itanium C++ ABI: `at::Context& at::globalContext()` returns the pointer, and a member function
            // takes `this` as its first argument; bool travels as one byte.
            var global = (delegate* unmanaged<nint>)Export(lib, "_ZN2at13globalContextEv");
            getMkldnn = (delegate* unmanaged<nint, byte>)Export(lib, "_ZNK2at7Context17userEnabledMkldnnEv");
            setMkldnn = (delegate* unmanaged<nint, byte, void>)Export(lib, "_ZN2at7Context20setUserEnabledMkldnnEb");
            setNnpack = (delegate* unmanaged<nint, byte, void>)Export(lib, "_ZN2at7Context20setUserEnabledNNPACKEb");
            context = global();
        }
    }

    private static nint Export(nint lib, string symbol) =>
        NativeLibrary.TryGetExport(lib, symbol, out var address)
            ? address
            : throw new DreamBoothException($"libtorch_cpu does not export {symbol}; this libtorch version is not supported.");

    // TorchSharp has already loaded libtorch_cpu.so, so the bare name resolves to that copy; the paths are fallbacks.
    private static nint LoadTorchCpu()
    {
        if (NativeLibrary.TryLoad("libtorch_cpu.so", out var handle)) return handle;
        var dir = Path.GetDirectoryName(typeof(torch).Assembly.Location) ?? AppContext.BaseDirectory;
        foreach (var path in new[] { Path.Combine(dir, "runtimes", "linux-x64", "native", "libtorch_cpu.so"), Path.Combine(dir, "libtorch_cpu.so") })
            if (NativeLibrary.TryLoad(path, out handle)) return handle;
        throw new DreamBoothException("Cannot find libtorch_cpu.so in the process to set its backend switches.");
    }
}
