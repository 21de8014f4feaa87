namespace DreamBooth.Cli.Commands;

using System.ComponentModel;
using DreamBooth.Cli.Settings;
using System.Globalization;
using DreamBooth.Torch;
using DreamBooth.ToyWorld;
using Spectre.Console;
using Spectre.Console.Cli;

/// <summary>`dreambooth demo`: DreamBooth LoRA and full fine-tuning on the toy world's subject, with and without prior preservation, measured and reported.</summary>
public sealed class DemoCommand(IAnsiConsole console) : Command<DemoCommand.Settings>
{
    public sealed class Settings : CpuSettings
    {
        [CommandOption("--base <DIR>")][Description("The toy base model (default models/toyworld-base in the repository).")]
        public string? Base { get; init; }
        [CommandOption("--output <DIR>")][Description("Folder for images, runs, metrics.json and report.html (default demo-output).")]
        public string Output { get; init; } = "demo-output";
        [CommandOption("--seed <N>")][Description("Seed of classifier, instance images, training and samples (default 0).")]
        public int Seed { get; init; }
        [CommandOption("--quick")][Description("Fewer steps and images everywhere (a smoke run).")]
        public bool Quick { get; init; }
        [CommandOption("--steps <N>")][Description("LoRA training steps of each run (default 300; 60 with --quick).")]
        public int? Steps { get; init; }
        [CommandOption("--learning-rate <LR>")][Description("LoRA learning rate of each run (default 7e-4).")]
        public double? LearningRate { get; init; }
        [CommandOption("--full-steps <N>")][Description("Full fine-tuning steps of each run (default 300; 30 with --quick).")]
        public int? FullSteps { get; init; }
        [CommandOption("--full-learning-rate <LR>")][Description("Full fine-tuning learning rate of each run (default 3e-4).")]
        public double? FullLearningRate { get; init; }
        [CommandOption("--rank <N>")][Description("LoRA rank (default 4).")]
        public int? Rank { get; init; }
        [CommandOption("--unet-only")][Description("LoRA on the UNet only (default: the UNet and the text encoder).")]
        public bool UnetOnly { get; init; }
        [CommandOption("--prior-loss-weight <W>")][Description("Weight of the class loss in the prior-preservation run (default 1).")]
        public double? PriorLossWeight { get; init; }
        [CommandOption("--num-class-images <N>")][Description("Class images the base draws for prior preservation (default 50).")]
        public int? NumClassImages { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var options = new ToyDemoOptions { BaseModel = s.Base ?? ToyDemo.DefaultBase, OutputDir = s.Output, Seed = s.Seed };
        if (s.Quick) options = options.Quick();
        if (s.Steps is { } steps) options = options with { TrainSteps = steps };
        if (s.LearningRate is { } lr) options = options with { LearningRate = lr };
        if (s.FullSteps is { } fullSteps) options = options with { FullTrainSteps = fullSteps };
        if (s.FullLearningRate is { } fullLr) options = options with { FullLearningRate = fullLr };
        if (s.Rank is { } rank) options = options with { Rank = rank };
        if (s.UnetOnly) options = options with { TrainTextEncoder = false };
        if (s.PriorLossWeight is { } w) options = options with { PriorLossWeight = w };
        if (s.NumClassImages is { } n) options = options with { NumClassImages = n };
        options.Validated();
        TorchRuntime.SetThreads(s.Threads);
        ToyDemoResult? result = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                var progress = new SyncProgress<ToyDemoProgress>(p =>
                {
                    if (!tasks.TryGetValue(p.Stage, out var task)) tasks[p.Stage] = task = ctx.AddTask(p.Stage, maxValue: Math.Max(1, p.Steps));
                    task.Description = Markup.Escape(p.Message);
                    task.MaxValue = Math.Max(1, p.Steps);
                    task.Value = Math.Min(p.Step, task.MaxValue);
                });
                result = ToyDemo.Run(options, progress, cancellationToken);
            });
        // Metrics as rows, runs as columns: five long metric names would not fit across a narrow terminal.
        var table = new Table().AddColumn("metric");
        foreach (var r in result!.Runs) table.AddColumn(r.Name, c => c.RightAligned());
        var values = result.Runs.Select(r => r.Values).ToList();
        for (int i = 0; i < ToyDemo.MetricMeanings.Count; i++)
            table.AddRow([ToyDemo.MetricMeanings[i].Key, .. values.Select(v => v[i].ToString("0.0000", CultureInfo.InvariantCulture))]);
        console.Write(table);
        console.MarkupLine($"Classifier accuracy on held-out renders: {result.ClassifierAccuracy.ToString("0.000", CultureInfo.InvariantCulture)}");
        console.MarkupLine($"[green]Done[/]: {Markup.Escape(result.MetricsPath)} and {Markup.Escape(result.ReportPath)}");
        return 0;
    }
}
