namespace DreamBooth.Cli.Commands;

using System.ComponentModel;
using DreamBooth.Cli.Settings;
using DreamBooth.Torch;
using DreamBooth.ToyWorld;
using Spectre.Console;
using Spectre.Console.Cli;

/// <summary>`dreambooth toyworld pretrain-clip`: trains the toy world's CLIP from scratch and saves a transformers CLIPModel folder.</summary>
public sealed class ToyWorldPretrainClipCommand(IAnsiConsole console) : Command<ToyWorldPretrainClipCommand.Settings>
{
    public sealed class Settings : CpuSettings
    {
        [CommandOption("--output <DIR>")][Description("The CLIPModel folder to write (default toyworld-clip).")]
        public string Output { get; init; } = "toyworld-clip";
        [CommandOption("--steps <N>")][Description("Training steps (default 1500).")]
        public int? Steps { get; init; }
        [CommandOption("--seed <N>")][Description("Seed of initialisation, scenes, captions and noise (default 0).")]
        public int Seed { get; init; }
        [CommandOption("--batch-size <N>")][Description("Image–caption pairs per step (default 128).")]
        public int? BatchSize { get; init; }
        [CommandOption("--learning-rate <LR>")][Description("Peak learning rate (default 1e-3).")]
        public double? LearningRate { get; init; }
        [CommandOption("--tiny")][Description("A narrower model for smoke tests.")]
        public bool Tiny { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var defaults = new ToyClipOptions { OutputDir = s.Output };
        var options = (defaults with
        {
            Steps = s.Steps ?? defaults.Steps,
            Seed = s.Seed,
            BatchSize = s.BatchSize ?? defaults.BatchSize,
            LearningRate = s.LearningRate ?? defaults.LearningRate,
            Model = s.Tiny ? ToyClipConfig.Tiny : defaults.Model,
        }).Validated();
        TorchRuntime.SetThreads(s.Threads);
        ToyClipResult? result = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("clip", maxValue: options.Steps);
                var progress = new SyncProgress<ToyPretrainProgress>(p =>
                {
                    task.Description = p.Phase == "clip"
                        ? $"clip step {p.Step}/{p.Steps} loss {p.Loss:0.0000} {p.StepsPerSecond:0.00} it/s"
                        : Markup.Escape(p.Phase);
                    task.Value = p.Step;
                });
                result = new ToyClipTrainer(options).Run(progress, cancellationToken);
            });
        var r = result!;
        var sc = r.Scores;
        console.MarkupLine($"[green]Done[/] in {r.Elapsed:hh\\:mm\\:ss}: loss {r.Loss:0.0000}, {r.ParameterCount:N0} parameters.");
        console.MarkupLine($"Zero-shot on held-out renders: shape {sc.ShapeAccuracy:P1}, object colour {sc.ColourAccuracy:P1}, background {sc.BackgroundAccuracy:P1}, " +
                           $"class prompt {sc.NounAccuracy:P1}, subject vs plain boxes {sc.SubjectAccuracy:P1}.");
        console.MarkupLine($"Image cosine (CLIP-I): subject to subject {sc.SubjectToSubject:0.000}, plain box to subject {sc.BoxToSubject:0.000}. " +
                           $"Subject to class prompt (CLIP-T): own background {sc.ContextMatched:0.000}, other backgrounds {sc.ContextOther:0.000}.");
        console.MarkupLine($"Model: {Markup.Escape(r.OutputDir)} (use: dreambooth evaluate --clip {Markup.Escape(r.OutputDir)} …)");
        return 0;
    }
}
