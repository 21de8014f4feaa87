namespace DreamBooth.Tests.Cli;

using System.Text.Json;
using DreamBooth.Benchmarks;
using TorchSharp;
using static TorchSharp.torch;

public sealed class BenchCommandTests
{
    [Fact]
    public void FlopCounter_ConvLinearAttention_CountsFromShapes()
    {
        using var scope = NewDisposeScope();
        using var conv = nn.Conv2d(3, 8, 3, padding: 1);
        using var linear = nn.Linear(16, 4);
        using var attention = new DreamBooth.Models.Attention(16, crossAttentionDim: 12, heads: 2, dimHead: 8);
        using var flops = new FlopCounter(conv, linear, attention);
        using var noGrad = no_grad();
        conv.call(zeros(2, 3, 5, 5));
        Assert.Equal(2.0 * (2 * 8 * 5 * 5) * (3 * 3 * 3), flops.Flops);
        flops.Reset();
        linear.call(zeros(2, 7, 16));
        Assert.Equal(2.0 * (2 * 7 * 4) * 16, flops.Flops);
        flops.Reset();
        attention.call(zeros(1, 6, 16), zeros(1, 9, 12));
        // to_q 16→16 on 6 tokens, to_k/to_v 12→16 on 9, to_out 16→16 on 6, plus Q·Kᵀ and P·V.
        double projections = 2.0 * 6 * 16 * 16 + 2 * (2.0 * 9 * 16 * 12) + 2.0 * 6 * 16 * 16;
        Assert.Equal(projections + 4.0 * 6 * 9 * 16, flops.Flops);
    }

    [Fact]
    public void Bench_Quick_WritesTheJsonReport()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("bench-").FullName, "bench.json");
        var (code, text) = CliRunner.Run("bench", "--quick", "--json", path);
        Assert.True(code == 0, text);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        Assert.True(root.GetProperty("gemm_gflops").GetDouble() > 0);
        Assert.False(string.IsNullOrEmpty(root.GetProperty("machine").GetProperty("isa").GetString()));
        var names = root.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("name").GetString()).ToList();
        Assert.Contains("tiny-unet-train-lora-8bit-ckpt", names);
        Assert.Contains("tiny-generate-step", names);
        var forward = root.GetProperty("results").EnumerateArray().Single(r => r.GetProperty("name").GetString() == "tiny-unet-forward");
        Assert.True(forward.GetProperty("gflops").GetDouble() > 0);
        Assert.True(forward.GetProperty("peak_rss_mb").GetDouble() > 0);
        Assert.Contains("Same-run limits", text);
    }

    [Fact]
    public void StepProfiler_ChargesEachModuleTypeItsOwnTime_AndReplaysLeafBackwards()
    {
        using var scope = NewDisposeScope();
        var model = nn.Sequential(nn.Conv2d(3, 8, 3, padding: 1), nn.GroupNorm(2, 8), nn.Conv2d(8, 3, 3, padding: 1));
        var x = randn(2, 3, 16, 16);
        using var optimizer = new DreamBooth.Training.AdamW(model.parameters());
        var report = StepProfiler.Profile("toy", model, () => model.call(x).square().mean(), optimizer);
        var rows = report.Modules.ToDictionary(r => r.Kind);
        Assert.Equal(2, rows["Conv2d"].Calls);
        Assert.Equal(1, rows["GroupNorm"].Calls);
        Assert.Equal(1, rows["Sequential"].Calls);
        Assert.NotNull(rows["Conv2d"].BackwardMs);
        Assert.Null(rows["Sequential"].BackwardMs);                 // not a leaf layer: its backward is in the rest
        // Exclusive times add up to the forward (the container's own time is what its children leave).
        Assert.InRange(report.Modules.Sum(r => r.ForwardMs), 0, report.ForwardMs + 0.5);
        Assert.All(report.Modules, r => Assert.True(r.ForwardMs >= 0, r.Kind));
        Assert.True(report.BackwardMs > 0 && report.OptimizerMs > 0);
        Assert.All(model.parameters(), p => Assert.Null(p.grad));   // the replays leave no gradients behind
    }

    [Fact]
    public void Bench_ProfileQuick_WritesThePhasesAndModuleTypes()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("bench-").FullName, "profile.json");
        var (code, text) = CliRunner.Run("bench", "--profile", "--quick", "--json", path);
        Assert.True(code == 0, text);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var profiles = doc.RootElement.GetProperty("profiles").EnumerateArray().ToList();
        Assert.Equal(["tiny-unet-train-full", "tiny-unet-train-lora"], profiles.Select(p => p.GetProperty("name").GetString()));
        var kinds = profiles[0].GetProperty("modules").EnumerateArray().Select(m => m.GetProperty("kind").GetString()).ToList();
        Assert.Contains("Conv2d", kinds);
        Assert.Contains("Attention", kinds);
        Assert.Contains("ResnetBlock2D", kinds);
        Assert.Contains("forward_rest_ms", File.ReadAllText(path));
        Assert.Contains("rest", text);
    }
}
