namespace DreamBooth.Cli.Commands;

using System.ComponentModel;
using DreamBooth.Cli.Settings;
using DreamBooth.Cli.Rendering;
using DreamBooth.Torch;
using DreamBooth.ToyWorld;
using Spectre.Console;
using Spectre.Console.Cli;

/// <summary>`dreambooth toyworld pretrain`: trains the toy world's base model from scratch (VAE, then UNet + text encoder).</summary>
public sealed class ToyWorldPretrainCommand(IAnsiConsole console) : Command<ToyWorldPretrainCommand.Settings>
{
    public sealed class Settings : CpuSettings
    {
        [CommandOption("--output <DIR>")][Description("The diffusers folder to write (default toyworld-base).")]
        public string Output { get; init; } = "toyworld-base";
        [CommandOption("--steps <N>")][Description("Text-to-image steps (UNet and text encoder; default 6000).")]
        public int? Steps { get; init; }
        [CommandOption("--vae-steps <N>")][Description("Autoencoder steps, run first (default 600).")]
        public int? VaeSteps { get; init; }
        [CommandOption("--seed <N>")][Description("Seed of initialisation, scenes and noise (default 0).")]
        public int Seed { get; init; }
        [CommandOption("--batch-size <N>")][Description("Images per step (default 32).")]
        public int? BatchSize { get; init; }
        [CommandOption("--learning-rate <LR>")][Description("Peak learning rate of the text-to-image phase (default 1e-3).")]
        public double? LearningRate { get; init; }
        [CommandOption("--image-size <PIXELS>")][Description("32 (default) or 64.")]
        public int? ImageSize { get; init; }
        [CommandOption("--snr-gamma <GAMMA>")][Description("Min-SNR loss weighting (default 5; 0 for the plain mean).")]
        public double? SnrGamma { get; init; }
        [CommandOption("--checkpoint-every <N>")][Description("Save the model folder every N text-to-image steps (default 500; 0: only at the end).")]
        public int? CheckpointEvery { get; init; }
        [CommandOption("--continue-from <DIR>")][Description("Continue from a saved toy model: skip the autoencoder phase, train --steps more text-to-image steps.")]
        public string? ContinueFrom { get; init; }
        [CommandOption("--tiny")][Description("A narrower model for smoke tests.")]
        public bool Tiny { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var defaults = new ToyPretrainOptions { OutputDir = s.Output };
        var model = s.Tiny ? ToyModelConfig.Tiny : new ToyModelConfig();
        var options = (defaults with
        {
            Steps = s.Steps ?? defaults.Steps,
            VaeSteps = s.VaeSteps ?? defaults.VaeSteps,
            Seed = s.Seed,
            BatchSize = s.BatchSize ?? defaults.BatchSize,
            LearningRate = s.LearningRate ?? defaults.LearningRate,
            SnrGamma = s.SnrGamma is 0 ? null : s.SnrGamma ?? defaults.SnrGamma,
            CheckpointEvery = s.CheckpointEvery ?? defaults.CheckpointEvery,
            ContinueFrom = s.ContinueFrom,
            Model = model with { ImageSize = s.ImageSize ?? model.ImageSize },
        }).Validated();
        TorchRuntime.SetThreads(s.Threads);
        ToyPretrainResult? result = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var vae = ctx.AddTask("autoencoder", autoStart: options.ContinueFrom is null, maxValue: options.VaeSteps);
                var unet = ctx.AddTask("text-to-image", autoStart: false, maxValue: options.Steps);
                var progress = new SyncProgress<ToyPretrainProgress>(p =>
                {
                    var task = p.Phase == "vae" ? vae : unet;
                    if (p.Phase == "unet" && !unet.IsStarted) unet.StartTask();
                    if (p.Phase.StartsWith("saving", StringComparison.Ordinal)) return;
                    if (p.Phase.StartsWith("autoencoder reconstruction", StringComparison.Ordinal))
                    {
                        vae.Description = Markup.Escape(p.Phase);
                        return;
                    }
                    task.Description = p.Phase is "vae" or "unet"
                        ? $"{(p.Phase == "vae" ? "autoencoder" : "text-to-image")} step {p.Step}/{p.Steps} loss {p.Loss:0.0000} {p.StepsPerSecond:0.00} it/s"
                        : Markup.Escape(p.Phase);
                    if (p.Step > 0) task.Value = p.Step;
                });
                result = new ToyPretrainer(options).Run(progress, cancellationToken);
            });
        console.MarkupLine($"[green]Done[/] in {result!.Elapsed:hh\\:mm\\:ss}: autoencoder loss {result.VaeLoss:0.0000}, text-to-image loss {result.UnetLoss:0.0000}, " +
                           $"scaling factor {result.ScalingFactor}, {result.ParameterCount:N0} parameters; " +
                           $"autoencoder reconstruction MSE {result.SceneReconstructionError:0.0000} on scenes, {result.SubjectReconstructionError:0.0000} on the subject.");
        console.MarkupLine($"Model: {Markup.Escape(result.OutputDir)} (try: dreambooth generate -m {Markup.Escape(result.OutputDir)} -p \"a photo of a red ball on a blue background\")");
        return 0;
    }
}
