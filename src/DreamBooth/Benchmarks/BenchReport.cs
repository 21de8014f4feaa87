namespace DreamBooth.Benchmarks;

using System.Text.Json.Serialization;

/// <summary>One measured case: median wall time over the repeats after warm-up, and what it achieved.</summary>
public sealed record BenchResult(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("median_ms")] double MedianMs,
    [property: JsonPropertyName("gflops")] double? Gflops,
    [property: JsonPropertyName("peak_rss_mb")] double PeakRssMb,
    [property: JsonPropertyName("items_per_s")] double ItemsPerSecond,
    [property: JsonPropertyName("flops")] double? Flops,
    [property: JsonPropertyName("repeats")] int Repeats);

/// <summary>The machine a report was measured on.</summary>
public sealed record BenchMachine(
    [property: JsonPropertyName("cpu")] string Cpu,
    [property: JsonPropertyName("isa")] string Isa,
    [property: JsonPropertyName("threads")] int Threads,
    [property: JsonPropertyName("cores")] int Cores,
    [property: JsonPropertyName("onednn")] bool OneDnn,
    [property: JsonPropertyName("libtorch")] string Libtorch);

/// <summary>What <c>dreambooth bench --json</c> writes: every figure next to the same run's GEMM and conv limits.</summary>
public sealed record BenchReport(
    [property: JsonPropertyName("machine")] BenchMachine Machine,
    [property: JsonPropertyName("gemm_gflops")] double GemmGflops,
    [property: JsonPropertyName("conv_gflops")] double ConvGflops,
    [property: JsonPropertyName("results")] IReadOnlyList<BenchResult> Results);

/// <summary>What <c>dreambooth bench --profile --json</c> writes.</summary>
public sealed record ProfileReport(
    [property: JsonPropertyName("machine")] BenchMachine Machine,
    [property: JsonPropertyName("profiles")] IReadOnlyList<StepProfileReport> Profiles);
