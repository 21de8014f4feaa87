namespace DreamBooth.Cli.Commands;

using System.ComponentModel;
using System.Globalization;
using System.Text.Json;
using DreamBooth.Benchmarks;
using DreamBooth.Cli.Settings;
using DreamBooth.IO;
using DreamBooth.Torch;
using Spectre.Console;
using Spectre.Console.Cli;

/// <summary>`dreambooth bench`: speed and memory of the main jobs, each next to this machine's own GEMM and conv limits.</summary>
public sealed class BenchCommand(IAnsiConsole console) : Command<BenchCommand.Settings>
{
    public sealed class Settings : CommonSettings
    {
        [CommandOption("--json <FILE>")]
        [Description("Also write the results as JSON.")]
        public string? Json { get; init; }

        [CommandOption("--quick")]
        [Description("Only the tiny model and the machine limits, one timed run each (seconds, not minutes).")]
        public bool Quick { get; init; }

        [CommandOption("--full")]
        [Description("SD 1.5 at 512×512 (latents 64×64) instead of 256×256 (32×32).")]
        public bool Full { get; init; }

        [CommandOption("--profile")]
        [Description("Instead of the cases: where one SD 1.5 training step's time goes (phases, module types); the tiny UNet with --quick.")]
        public bool Profile { get; init; }

        [CommandOption("--repeats <N>")]
        [Description("Timed runs per case after one warm-up; the median is reported (default 3).")]
        public int? Repeats { get; init; }

        [CommandOption("-m|--model <MODEL>")]
        [Description("Diffusers folder for the tiny cases (default: the tiny model in the repository).")]
        public string? Model { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        if (s.Repeats is < 1) throw new DreamBoothException($"--repeats must be at least 1, not {s.Repeats}.");
        TorchRuntime.SetThreads(s.Threads);
        var model = ModelLocator.Resolve(s.Model ?? ModelSettings.DefaultModel, console, false, cancellationToken, null);
        var options = new BenchOptions(model, Sd15: !s.Quick, LatentSize: s.Full ? 64 : 32, Repeats: s.Repeats ?? (s.Quick ? 1 : 3));
        console.MarkupLine($"[grey]{Markup.Escape(CpuInfo.Model)}, {Markup.Escape(CpuInfo.Isa)}, {TorchSharp.torch.get_num_threads()} thread(s), oneDNN {(NativeContext.OneDnnEnabled ? "on" : "off")}[/]");
        if (s.Profile) return Profile(options, s.Json);
        var table = new Table().AddColumns("case", "median", "GFLOP/s", "items/s", "peak RSS");
        foreach (var i in Enumerable.Range(1, 4)) table.Columns[i].RightAligned();
        var report = Bench.Run(options, r =>
        {
            string[] cells = [r.Name, $"{r.MedianMs.ToString("0.0", CultureInfo.InvariantCulture)} ms",
                              r.Gflops?.ToString("0.0", CultureInfo.InvariantCulture) ?? "", r.ItemsPerSecond.ToString("0.###", CultureInfo.InvariantCulture),
                              $"{r.PeakRssMb.ToString("0", CultureInfo.InvariantCulture)} MB"];
            table.AddRow(cells);
            console.MarkupLine(Markup.Escape(string.Join("  ", cells)));                  // progress: a case takes seconds to minutes
        }, cancellationToken);
        console.Write(table);
        console.MarkupLine($"Same-run limits: fp32 GEMM 2048³ {report.GemmGflops:0.0} GFLOP/s, conv 3×3 320→320 {report.ConvGflops:0.0} GFLOP/s.");
        if (s.Json is not null)
        {
            AtomicFile.WriteAllText(s.Json, JsonSerializer.Serialize(report, JsonText.Indented));
            console.MarkupLine($"Wrote {Markup.Escape(s.Json)}.");
        }
        return 0;
    }

    private int Profile(BenchOptions options, string? json)
    {
        static string Ms(double? ms) => ms is { } v ? v.ToString("0.0", CultureInfo.InvariantCulture) : "";
        var profiles = Bench.Profile(options, p =>
        {
            console.MarkupLine($"[bold]{Markup.Escape(p.Name)}[/] (batch 1): forward {Ms(p.ForwardMs)} ms, backward {Ms(p.BackwardMs)} ms, " +
                               $"optimizer {Ms(p.OptimizerMs)} ms, zero grad {Ms(p.ZeroGradMs)} ms");
            var table = new Table().AddColumns("module type", "calls", "forward ms (own ops)", "backward ms (replayed)");
            foreach (var i in Enumerable.Range(1, 3)) table.Columns[i].RightAligned();
            foreach (var r in p.Modules) table.AddRow(Markup.Escape(r.Kind), r.Calls.ToString(CultureInfo.InvariantCulture), Ms(r.ForwardMs), Ms(r.BackwardMs));
            table.AddRow("rest", "", Ms(p.ForwardRestMs), Ms(p.BackwardRestMs));
            console.Write(table);
        });
        if (json is not null)
        {
            AtomicFile.WriteAllText(json, JsonSerializer.Serialize(new ProfileReport(Bench.Machine(), profiles), JsonText.Indented));
            console.MarkupLine($"Wrote {Markup.Escape(json)}.");
        }
        return 0;
    }
}
