namespace DreamBooth.Cli.Commands;

using System.ComponentModel;
using System.Globalization;
using DreamBooth.Cli.Settings;
using DreamBooth.Evaluation;
using DreamBooth.Pipelines;
using DreamBooth.Torch;
using DreamBooth.Training;
using Spectre.Console;
using Spectre.Console.Cli;

/// <summary>Renders evaluation prompts × seeds and scores them with the DreamBooth paper's metrics (thin: the work is in DreamBooth.Evaluation).</summary>
public sealed class EvaluateCommand(IAnsiConsole console) : Command<EvaluateCommand.Settings>
{
    public sealed class Settings : ModelSettings
    {
        [CommandOption("--lora <FILE[:SCALE]>")]
        [Description("A LoRA file with an optional scale, as for generate. Repeatable.")]
        public string[] Lora { get; init; } = [];

        [CommandOption("--checkpoints <DIR>")]
        [Description("A training output folder: evaluate the base model (-m, the one it trained on), each checkpoint-* and the final weights, plot the metrics against the step and recommend a checkpoint.")]
        public string? Checkpoints { get; init; }

        [CommandOption("--subject-dir <DIR>")]
        [Description("The real photos of the subject (the reference of DINO, CLIP-I and PRES).")]
        public string? SubjectDir { get; init; }

        [CommandOption("--identifier <TOKEN>")]
        [Description("The subject's identifier in the prompts (default: sks).")]
        [DefaultValue("sks")]
        public string Identifier { get; init; } = "sks";

        [CommandOption("--class-noun <NOUN>")]
        [Description("The subject's class, e.g. dog (class-only prompts render PRES's images).")]
        public string? ClassNoun { get; init; }

        [CommandOption("--subject-kind <KIND>")]
        [Description("object or live: which 25 DreamBooth dataset templates follow the 4 style prompts (default: object).")]
        [DefaultValue("object")]
        public string SubjectKind { get; init; } = "object";

        [CommandOption("--prompts <FILE>")]
        [Description("Prompt templates, one per line, {0} = identifier, {1} = class noun (default: the 4 style prompts + 25 dataset templates).")]
        public string? Prompts { get; init; }

        [CommandOption("--seeds <LIST>")]
        [Description("Comma-separated seeds, the same for every prompt (default: 0,1,2,3).")]
        [DefaultValue("0,1,2,3")]
        public string Seeds { get; init; } = "0,1,2,3";

        [CommandOption("--steps <N>")]
        [Description("Denoising steps (default: 50).")]
        [DefaultValue(50)]
        public int Steps { get; init; } = 50;

        [CommandOption("-g|--guidance-scale <SCALE>")]
        [Description("Classifier-free guidance scale (default: 7.5).")]
        [DefaultValue(7.5)]
        public double GuidanceScale { get; init; } = 7.5;

        [CommandOption("--scheduler <NAME>")]
        [Description("Sampler, as for generate (default: the model's).")]
        public string? Scheduler { get; init; }

        [CommandOption("-W|--width <PIXELS>")]
        [Description("Image width (default: the model's native size).")]
        public int? Width { get; init; }

        [CommandOption("-H|--height <PIXELS>")]
        [Description("Image height (default: the model's native size).")]
        public int? Height { get; init; }

        [CommandOption("--clip <MODEL>")]
        [Description("CLIPModel folder or hub repo id with model.safetensors (default: openai/clip-vit-base-patch32, the paper's).")]
        [DefaultValue("openai/clip-vit-base-patch32")]
        public string Clip { get; init; } = "openai/clip-vit-base-patch32";

        [CommandOption("--dino <MODEL>")]
        [Description("DINO ViTModel folder or hub repo id (default: facebook/dino-vits16, the paper's); none: CLIP only.")]
        [DefaultValue("facebook/dino-vits16")]
        public string Dino { get; init; } = "facebook/dino-vits16";

        [CommandOption("-o|--output <DIR>")]
        [Description("Output folder: images/ (reused when the settings match), grids/, metrics.json, report.html; with --checkpoints one step-NNNNNN/ folder of those per state and checkpoints.json, .png, .html.")]
        public string? Output { get; init; }

        public override ValidationResult Validate()
        {
            if (SubjectDir is null) return ValidationResult.Error("Give --subject-dir.");
            if (ClassNoun is null) return ValidationResult.Error("Give --class-noun.");
            if (Output is null) return ValidationResult.Error("Give --output.");
            if (SubjectKind is not ("object" or "live")) return ValidationResult.Error("--subject-kind must be object or live.");
            if (Steps < 1) return ValidationResult.Error("--steps must be at least 1.");
            if (Checkpoints is not null && Lora.Length > 0) return ValidationResult.Error("--checkpoints evaluates the run's own weights: leave out --lora.");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var kind = settings.SubjectKind == "live" ? SubjectKind.Live : SubjectKind.Object;
        var templates = settings.Prompts is null ? EvaluationPrompts.Default(kind) : EvaluationPrompts.Read(settings.Prompts);
        var seeds = settings.Seeds.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Rng.ParseSeed).ToList();
        if (seeds.Count == 0) throw new DreamBoothException("--seeds: no seeds given.");
        var loraSpecs = settings.Lora.Select(LoraOptions.Parse).ToList();
        var states = settings.Checkpoints is { } run
            ? CheckpointEvaluation.Find(run, warning => console.MarkupLine($"[yellow]warning:[/] {Markup.Escape(warning)}"))
            : null;
        var clipDir = EvaluationModels.Locate(settings.Clip, withTokenizer: true, cancellationToken);
        var dinoDir = EvaluationModels.LocateDino(settings.Dino, cancellationToken);
        var modelArg = settings.Model ?? ModelSettings.DefaultModel;
        var modelPath = ModelLocator.Resolve(modelArg, console, quiet: true, cancellationToken, settings.Variant);

        using var pipe = settings.LoadPipeline(console, cancellationToken);
        var loras = LoraOptions.Apply(pipe, loraSpecs);
        using var models = EvaluationModels.Load(clipDir, dinoDir);
        var evaluation = new EvaluationSettings
        {
            Model = modelArg, ModelPath = modelPath, Loras = [.. loras.Select(l => (l.File, l.Scale))],
            Identifier = settings.Identifier, ClassNoun = settings.ClassNoun!, SubjectKind = kind, PromptTemplates = templates, Seeds = seeds,
            Steps = settings.Steps, GuidanceScale = settings.GuidanceScale, Scheduler = settings.Scheduler, Width = settings.Width, Height = settings.Height,
            SubjectDir = settings.SubjectDir!, ClipModel = settings.Clip, DinoModel = settings.Dino,
        };
        Directory.CreateDirectory(settings.Output!);
        if (states is not null) return EvaluateCheckpoints(pipe, models, evaluation, states, settings.Output!, cancellationToken);
        EvaluationResult? result = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var render = ctx.AddTask("render", maxValue: templates.Count * seeds.Count * 2);
                var embed = ctx.AddTask("score", maxValue: 1);
                var progress = new Progress(p => (p.Stage == "render" ? render : embed).Value = p.Done);
                result = SubjectEvaluation.Run(pipe, models, evaluation, settings.Output!, progress, cancellationToken);
            });
        EvaluationReport.Write(settings.Output!, evaluation, result!);

        var table = new Table().AddColumns("metric", "value");
        foreach (var (name, value) in new[] { ("DINO", (double?)result!.Dino), ("CLIP-I", result.ClipI), ("CLIP-T", result.ClipT), ("PRES (lower is better)", result.Pres), ("DIV", result.Div) })
            table.AddRow(name, value?.ToString("0.0000", CultureInfo.InvariantCulture) ?? "– (one seed)");
        console.Write(table);
        console.MarkupLine($"{result.Rendered} image(s) rendered, {result.Reused} reused. Report: {Markup.Escape(Path.Combine(settings.Output!, "report.html"))}");
        return 0;
    }

    // Every state of a training run with the same prompts × seeds; the table, the recommendation and its rule.
    private int EvaluateCheckpoints(StableDiffusionPipeline pipe, EvaluationModels models, EvaluationSettings evaluation,
                                    IReadOnlyList<TrainedState> states, string output, CancellationToken cancellationToken)
    {
        var checkpoints = new CheckpointEvaluation(models, evaluation, output);
        int perState = evaluation.PromptTemplates.Count * evaluation.Seeds.Count * 2;
        CheckpointRecommendation? recommendation = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var render = ctx.AddTask("render", maxValue: (states.Count + 1) * perState);
                recommendation = checkpoints.Run(pipe, states, (state, p) =>
                {
                    render.Description = $"{Markup.Escape(state.Name)}: {p.Stage}";
                    if (p.Stage == "render") render.Value = (states.ToList().IndexOf(state) + 1) * perState + p.Done;
                }, cancellationToken);
            });

        var table = new Table().AddColumns("step", "state", "DINO", "CLIP-I", "CLIP-T", "PRES", "DIV");
        static string F(double? x) => x?.ToString("0.0000", CultureInfo.InvariantCulture) ?? "–";
        foreach (var p in checkpoints.Points)
            table.AddRow(p.Step.ToString(CultureInfo.InvariantCulture), Markup.Escape(p.Name) + (p.Step == recommendation!.Recommended.Step ? " [green]★[/]" : ""),
                         F(p.Dino), F(p.ClipI), F(p.ClipT), F(p.Pres), F(p.Div));
        console.Write(table);
        console.MarkupLine($"[green]Recommended:[/] {Markup.Escape(recommendation!.Recommended.Name)} (step {recommendation.Recommended.Step}), " +
                           $"use {Markup.Escape(recommendation.Recommended.Use ?? "")}. {Markup.Escape(recommendation.Reason)}");
        console.MarkupLine($"Rule: {Markup.Escape(CheckpointChoice.Rule)}");
        console.MarkupLine($"Report: {Markup.Escape(Path.Combine(output, CheckpointReport.HtmlFile))}");
        return 0;
    }

    private sealed class Progress(Action<EvaluationProgress> report) : IProgress<EvaluationProgress>
    {
        public void Report(EvaluationProgress value) => report(value);
    }
}
