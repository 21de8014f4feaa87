namespace DreamBooth.Cli.Commands;

using DreamBooth.Cli.Rendering;
using DreamBooth.Cli.Settings;
using DreamBooth.Torch;
using DreamBooth.Training;
using Spectre.Console;
using Spectre.Console.Cli;

/// <summary>`dreambooth train`. Generic only because its settings type is emitted at start-up from the library's
/// option declarations (see <see cref="TrainSettings"/>); <see cref="CliApp"/> closes it over <see cref="TrainSettings.Type"/>.</summary>
public sealed class TrainCommand<TSettings>(IAnsiConsole console) : Command<TSettings> where TSettings : TrainSettings
{
    public override int Execute(CommandContext context, TSettings s, CancellationToken cancellationToken)
    {
        var options = s.ToOptions().Validated();
        TorchRuntime.SetThreads(s.Threads);
        var device = TorchRuntime.ResolveDevice(s.Device);
        using var outputLock = OutputDirLock.Acquire(options.OutputDir);
        var model = ModelLocator.Resolve(options.PretrainedModelNameOrPath ?? ModelSettings.DefaultModel, console, false, cancellationToken, options.Variant);
        var trainer = new DreamBoothTrainer(options, model, device, warning => console.MarkupLine($"[yellow]warning:[/] {Format.Text(warning)}"));
        TrainResult? result = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("starting", maxValue: options.EffectiveMaxTrainSteps);
                var progress = new SyncProgress<TrainProgress>(p =>
                {
                    task.Description = p.Phase is not null
                        ? Format.Text(p.Phase)
                        : $"step {p.Step}/{p.MaxSteps} loss {p.Loss:0.0000} lr {p.LearningRate:0.###e+0} {p.StepsPerSecond:0.00} it/s {Format.Bytes(p.MemoryBytes)}";
                    task.Value = p.Step;
                });
                try
                {
                    result = trainer.Run(progress, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    var last = new CheckpointStore(options.OutputDir).List().Select(c => c.Path).LastOrDefault();
                    console.MarkupLine(last is null
                        ? "[yellow]Interrupted[/] before the first checkpoint: nothing to resume from."
                        : $"[yellow]Interrupted.[/] The last checkpoint is {Format.Text(last)}: continue with --resume-from-checkpoint latest.");
                    throw;
                }
            });
        console.MarkupLine($"[green]Done:[/] {result!.Steps} steps, final loss {result.FinalLoss:0.0000}, {result.StepsPerSecond:0.00} it/s, peak memory {Format.Bytes(result.PeakMemoryBytes)}.");
        console.MarkupLine($"Weights: {Format.Text(result.WeightsFile ?? result.OutputDir)}");
        if (result.Recommendation is { } r)
            console.MarkupLine($"[green]Recommended checkpoint:[/] {Format.Text(r.Recommended.Name)} (step {r.Recommended.Step}), use {Format.Text(r.Recommended.Use ?? "")}. " +
                               $"{Format.Text(r.Reason)} Report: {Format.Text(Path.Combine(options.OutputDir, DreamBoothTrainer.EvalFolder, DreamBooth.Evaluation.CheckpointReport.HtmlFile))}");
        return 0;
    }
}
