namespace DreamBooth.Tests.Schedulers;

using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using DreamBooth.IO;
using DreamBooth.Schedulers;
using DreamBooth.Torch;
using static TorchSharp.torch;

/// <summary>One fixture pipeline's scheduler references: reference.safetensors tensors and reference.json sections.</summary>
internal sealed class SchedulerReference
{
    private static readonly ConcurrentDictionary<string, SchedulerReference> Cache = new();

    /// <summary>Fixture case names (<c>sched.&lt;S&gt;.*</c>) and the diffusers classes they exercise.</summary>
    public static readonly string[] Schedulers = ["DDIM", "PNDM", "EulerDiscrete", "EulerAncestralDiscrete", "DPMSolverMultistep", "LMSDiscrete", "DDPM"];

    public static readonly int[] StepCounts = [4, 25, 50];

    private SchedulerReference(string pipeline)
    {
        TorchRuntime.EnsureLoaded();
        Pipeline = pipeline;
        Tensors = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        Json = JsonNode.Parse(File.ReadAllText(Fixtures.Path(pipeline, "reference.json")))!.AsObject();
        SourceConfig = SchedulerConfig.Load(Fixtures.Path(pipeline, "scheduler", "scheduler_config.json"));
    }

    public string Pipeline { get; }

    public SafeTensorsFile Tensors { get; }

    public JsonObject Json { get; }

    /// <summary>The pipeline's own scheduler/scheduler_config.json (explicit keys only).</summary>
    public SchedulerConfig SourceConfig { get; }

    public JsonObject Section => Json["sections"]!["schedulers"]!.AsObject();

    public static SchedulerReference For(string pipeline) => Cache.GetOrAdd(pipeline, p => new SchedulerReference(p));

    public JsonObject Case(string scheduler, int steps) => Section["cases"]![$"{scheduler}.N{steps}"]!.AsObject();

    public Tensor Read(string name) => Tensors.Read(name);

    public bool Has(string name) => Tensors.Contains(name);

    public static TheoryData<string, string, int> AllCases()
    {
        var data = new TheoryData<string, string, int>();
        foreach (var p in Fixtures.Pipelines)
            foreach (var s in Schedulers)
                foreach (var n in StepCounts)
                    data.Add(p, s, n);
        return data;
    }
}

/// <summary>Tensor comparisons with the README's tolerance rules.</summary>
internal static class TensorAssert
{
    /// <summary>Same shape, dtype and values bit for bit.</summary>
    public static void Equal(Tensor expected, Tensor actual, string what)
    {
        Assert.True(expected.shape.SequenceEqual(actual.shape), $"{what}: shape [{string.Join(",", actual.shape)}], expected [{string.Join(",", expected.shape)}]");
        Assert.True(expected.dtype == actual.dtype, $"{what}: dtype {actual.dtype}, expected {expected.dtype}");
        var diff = MaxAbsDiff(expected, actual);
        Assert.True(diff == 0, $"{what}: max |diff| = {diff:G6}, expected bit-exact");
    }

    /// <summary>max |diff| ≤ tol · max(1, max |expected|): absolute for O(1) tensors, relative to the peak for σ-scaled latents.</summary>
    public static double Close(Tensor expected, Tensor actual, double tol, string what)
    {
        Assert.True(expected.shape.SequenceEqual(actual.shape), $"{what}: shape [{string.Join(",", actual.shape)}], expected [{string.Join(",", expected.shape)}]");
        using var e64 = expected.to(ScalarType.Float64);
        var scale = Math.Max(1.0, e64.abs().max().item<double>());
        var diff = MaxAbsDiff(expected, actual);
        Assert.True(diff <= tol * scale, $"{what}: max |diff| = {diff:G6} > {tol:G3} × {scale:G6}");
        return diff / scale;
    }

    public static double MaxAbsDiff(Tensor expected, Tensor actual)
    {
        using var scope = NewDisposeScope();
        var d = (expected.to(ScalarType.Float64).cpu() - actual.to(ScalarType.Float64).cpu()).abs();
        return d.numel() == 0 ? 0 : d.max().item<double>();
    }
}
