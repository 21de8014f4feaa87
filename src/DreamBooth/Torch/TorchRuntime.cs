// Starts the tensor engine once per process and turns native-loading failures into an error that
// names the real cause (TorchSharp's own message always blames a missing libtorch package).
namespace DreamBooth.Torch;

using System.Runtime.InteropServices;
using TorchSharp;

public static class TorchRuntime
{
    private static readonly Lock Gate = new();
    private static bool started;

    /// <summary>Loads libtorch; throws <see cref="DreamBoothException"/> with the loader's own reason on failure.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (started) return;
            PrepareOpenMp();
            PrepareHugePages();
            try
            {
                // Any tensor call initialises the native backend.
                using var probe = torch.zeros(1);
            }
            catch (Exception e) when (e is not DreamBoothException)
            {
                throw new DreamBoothException("Cannot start the tensor engine: " + NativeLoadReason(), e);
            }
            started = true;
            NativeContext.ApplyDefaults();
        }
    }

    /// <summary>Set in the environment to keep OpenMP's own wait policy (ACTIVE spins between parallel regions).</summary>
    public const string OpenMpWaitPolicy = "OMP_WAIT_POLICY";

    // libtorch's OpenMP (libgomp) reads its settings from the C environment when libtorch loads, so this runs first.
    // Its threads spin while they wait for work; when another process holds a core, the spinning threads and the
    // waiting one take turns on it and small ops slow down many times over. Measured on 2 cores with other jobs
    // running (dreambooth bench --quick, tiny UNet): forward 91–194 ms spinning vs 23–25 ms passive, training step
    // 236–314 ms vs 103–192 ms; a 2048³ GEMM is unaffected. .NET's Environment.SetEnvironmentVariable does not reach
    // the C environment, hence setenv.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void PrepareOpenMp()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(OpenMpWaitPolicy) is not null) return;
        _ = SetEnv(OpenMpWaitPolicy, "PASSIVE", 0);
    }

    /// <summary>Set in the environment (to 0) to keep libtorch's large tensors on ordinary 4 KB pages.</summary>
    public const string HugePagesVariable = "THP_MEM_ALLOC_ENABLE";

    // libtorch's allocator takes every large tensor fresh from the kernel and gives it back when freed, so each step
    // faults its activations, gradients and temporaries in again, 4 KB at a time. On this project's 2-core VM that
    // costs ~15 µs a page: a 59 MB weight gradient took 216 ms to allocate and zero against 12 ms on 2 MB pages.
    // libtorch asks for transparent huge pages itself (2 MB-aligned, madvise) when THP_MEM_ALLOC_ENABLE is set, which
    // it reads from the C environment; the kernel must allow them (transparent_hugepage "always" or "madvise").
    // Measured (SD 1.5 UNet shape, batch 1, fp32): conv 1280→1280 weight gradient 257 → 81 ms.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void PrepareHugePages()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(HugePagesVariable) is not null) return;
        try
        {
            var mode = File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled");
            if (!mode.Contains("[always]", StringComparison.Ordinal) && !mode.Contains("[madvise]", StringComparison.Ordinal)) return;
        }
        catch (IOException) { return; }
        catch (UnauthorizedAccessException) { return; }
        _ = SetEnv(HugePagesVariable, "1", 0);
    }

    /// <summary>Whether libtorch was started with transparent huge pages for large tensors (our setting or the user's).</summary>
    public static bool HugePages =>
        OperatingSystem.IsLinux() && GetEnv(HugePagesVariable)?.ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE" or "Y";

    [DllImport("libc", EntryPoint = "getenv")]
    private static extern nint GetEnvPointer([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    private static string? GetEnv(string name) => Marshal.PtrToStringUTF8(GetEnvPointer(name));

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    /// <summary>Sets the intra-op thread count (0 keeps libtorch's default).</summary>
    public static void SetThreads(int threads)
    {
        EnsureLoaded();
        if (threads < 0) throw new DreamBoothException($"--threads must be 0 or more, not {threads}.");
        if (threads > Environment.ProcessorCount)
            throw new DreamBoothException($"--threads {threads} is more than the {Environment.ProcessorCount} CPU cores here; use at most {Environment.ProcessorCount}.");
        if (threads > 0) torch.set_num_threads(threads);
    }

    /// <summary>Resolves "cpu", "cuda", "cuda:N" or null (CUDA when present, else CPU).</summary>
    public static torch.Device ResolveDevice(string? spec)
    {
        EnsureLoaded();
        var text = spec?.Trim().ToLowerInvariant();
        if (string.IsNullOrEmpty(text) || text == "auto")
            return torch.cuda.is_available() ? torch.CUDA : torch.CPU;
        if (text == "cpu") return torch.CPU;
        if (text == "cuda" || text.StartsWith("cuda:", StringComparison.Ordinal))
        {
            int index = 0;
            if (text.Length > 4 && (!int.TryParse(text.AsSpan(5), out index) || index < 0))
                throw new DreamBoothException($"Invalid device '{spec}': use cpu, cuda or cuda:N.");
            if (!torch.cuda.is_available())
                throw new DreamBoothException(
                    $"Device '{spec}' was asked for but CUDA is not available: this build uses the CPU libtorch " +
                    "(libtorch-cpu-linux-x64). Use --device cpu, or reference a CUDA libtorch package and run on a machine with an NVIDIA driver.");
            int count = torch.cuda.device_count();
            if (index >= count)
                throw new DreamBoothException($"Device '{spec}' does not exist: {count} CUDA device(s) present.");
            return new torch.Device(DeviceType.CUDA, index);
        }
        throw new DreamBoothException($"Invalid device '{spec}': use cpu, cuda or cuda:N.");
    }

    /// <summary>Parses fp32/fp16/bf16 (and the long names).</summary>
    public static torch.ScalarType ParseDtype(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "" or "fp32" or "float32" or "float" or "no" => torch.ScalarType.Float32,
        "fp16" or "float16" or "half" => torch.ScalarType.Float16,
        "bf16" or "bfloat16" => torch.ScalarType.BFloat16,
        _ => throw new DreamBoothException($"Unknown dtype '{text}': use fp32, fp16 or bf16."),
    };

    /// <summary>The short name ParseDtype reads back: fp32, fp16, bf16.</summary>
    public static string DtypeName(torch.ScalarType dtype) => dtype switch
    {
        torch.ScalarType.Float32 => "fp32",
        torch.ScalarType.Float16 => "fp16",
        torch.ScalarType.BFloat16 => "bf16",
        _ => dtype.ToString(),
    };

    // Ask the OS loader directly: its dlerror text says which symbol version or file is missing.
    private static string NativeLoadReason()
    {
        var dir = Path.GetDirectoryName(typeof(torch).Assembly.Location) ?? AppContext.BaseDirectory;
        var candidates = new[]
        {
            Path.Combine(dir, "runtimes", "linux-x64", "native", "libLibTorchSharp.so"),
            Path.Combine(dir, "libLibTorchSharp.so"),
        };
        var path = candidates.FirstOrDefault(File.Exists);
        return path is null
            ? $"libLibTorchSharp.so was not found next to TorchSharp.dll ({dir}); the libtorch-cpu-linux-x64 package's natives are missing from the output."
            : DescribeLoadFailure(path) ?? "libLibTorchSharp.so loads, but libtorch failed to initialise (see the inner exception).";
    }

    /// <summary>The OS loader's reason a native library does not load, with a hint for the GLIBCXX case; null when it loads.</summary>
    internal static string? DescribeLoadFailure(string path)
    {
        try
        {
            NativeLibrary.Free(NativeLibrary.Load(path));
            return null;
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            var reason = e.Message;
            if (reason.Contains("GLIBCXX_", StringComparison.Ordinal))
                reason += " — this system's libstdc++ is older than the one libLibTorchSharp.so was built against; " +
                          "the build step that marks that version weak did not run on this copy (rebuild with `dotnet build`).";
            return reason;
        }
    }
}
