namespace DreamBooth.Cli.Commands;

using System.ComponentModel;
using System.Globalization;
using DreamBooth.Cli.Settings;
using DreamBooth.Evaluation;
using DreamBooth.Hub;
using DreamBooth.Torch;
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
        [Description("DINO ViTModel folder or hub repo id with model.safetensors (default: facebook/dino-vits16, the paper's).")]
        [DefaultValue("facebook/dino-vits16")]
        public string Dino { get; init; } = "facebook/dino-vits16";

        [CommandOption("-o|--output <DIR>")]
        [Description("Output folder: images/ (reused when the settings match), grids/, metrics.json, report.html.")]
        public string? Output { get; init; }

        public override ValidationResult Validate()
        {
            if (SubjectDir is null) return ValidationResult.Error("Give --subject-dir.");
            if (ClassNoun is null) return ValidationResult.Error("Give --class-noun.");
            if (Output is null) return ValidationResult.Error("Give --output.");
            if (SubjectKind is not ("object" or "live")) return ValidationResult.Error("--subject-kind must be object or live.");
            if (Steps < 1) return ValidationResult.Error("--steps must be at least 1.");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var kind = settings.SubjectKind == "live" ? SubjectKind.Live : SubjectKind.Object;
        var templates = settings.Prompts is null ? EvaluationPrompts.Default(kind) : ReadTemplates(settings.Prompts);
        var seeds = settings.Seeds.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Rng.ParseSeed).ToList();
        if (seeds.Count == 0) throw new DreamBoothException("--seeds: no seeds given.");
        var loraSpecs = settings.Lora.Select(LoraOptions.Parse).ToList();
        var clipDir = ResolveEvalModel(settings.Clip, withTokenizer: true, cancellationToken);
        var dinoDir = ResolveEvalModel(settings.Dino, withTokenizer: false, cancellationToken);
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

    private static List<string> ReadTemplates(string file)
    {
        if (!File.Exists(file)) throw new DreamBoothException($"--prompts {file}: file not found.");
        var lines = File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        return lines.Count > 0 ? lines : throw new DreamBoothException($"--prompts {file}: no prompts in the file.");
    }

    // A local folder as is; a hub repo id by downloading the files the evaluation models read.
    private static string ResolveEvalModel(string model, bool withTokenizer, CancellationToken cancellationToken)
    {
        var reference = ModelRef.Parse(model);
        if (reference.Kind != ModelRefKind.HubRepo)
            return Directory.Exists(reference.LocalPath) ? reference.LocalPath! : throw new DreamBoothException($"{model}: no such model folder.");
        string[] files = withTokenizer
            ? ["config.json", "preprocessor_config.json", "model.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"]
            : ["config.json", "preprocessor_config.json", "model.safetensors"];
        using var hub = new HubClient(HubOptions.FromEnvironment());
        string? folder = null;
        foreach (var file in files)
            folder = Path.GetDirectoryName(hub.DownloadFileAsync(reference.RepoId!, file, reference.Revision, null, cancellationToken).GetAwaiter().GetResult());
        return folder!;
    }

    private sealed class Progress(Action<EvaluationProgress> report) : IProgress<EvaluationProgress>
    {
        public void Report(EvaluationProgress value) => report(value);
    }
}
