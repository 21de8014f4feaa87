namespace DreamBooth.Torch;

/// <summary>The CPU model and the vector extensions that decide which kernels libtorch and oneDNN pick.</summary>
public static class CpuInfo
{
    private static readonly Lazy<(string Model, string Vendor, string[] Flags)> Info = new(Read);

    /// <summary>"AMD EPYC", "Intel(R) Xeon(R) …", or the architecture where /proc/cpuinfo says nothing.</summary>
    public static string Model => Info.Value.Model;

    /// <summary>CPUID's vendor string: "GenuineIntel", "AuthenticAMD", or "" where /proc/cpuinfo has none.</summary>
    public static string Vendor => Info.Value.Vendor;

    /// <summary>The widest x86 vector ISA and its deep-learning extensions, e.g. "AVX-512 (bf16, VNNI)" or "AVX2".</summary>
    public static string Isa
    {
        get
        {
            var f = Info.Value.Flags.ToHashSet(StringComparer.Ordinal);
            if (f.Count == 0) return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
            var extras = new List<string>();
            if (f.Contains("avx512_bf16")) extras.Add("bf16");
            if (f.Contains("avx512_fp16")) extras.Add("fp16");
            if (f.Contains("avx512_vnni")) extras.Add("VNNI");
            if (f.Contains("amx_tile")) extras.Add("AMX");
            var isa = f.Contains("avx512f") ? "AVX-512" : f.Contains("avx2") ? "AVX2" : f.Contains("avx") ? "AVX" : "SSE";
            return extras.Count == 0 ? isa : $"{isa} ({string.Join(", ", extras)})";
        }
    }

    private static (string, string, string[]) Read()
    {
        try
        {
            string model = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString(), vendor = "";
            string[] flags = [];
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                int colon = line.IndexOf(':');
                if (colon < 0) continue;
                var key = line[..colon].Trim();
                if (key == "model name") model = line[(colon + 1)..].Trim();
                else if (key == "vendor_id") vendor = line[(colon + 1)..].Trim();
                else if (key == "flags") { flags = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries); break; }
            }
            return (model, vendor, flags);
        }
        catch (IOException) { return ("unknown", "", []); }
        catch (UnauthorizedAccessException) { return ("unknown", "", []); }
    }
}
