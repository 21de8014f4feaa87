namespace DreamBooth.Cli.Commands;

using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json.Nodes;
using DreamBooth.Cli.Rendering;
using DreamBooth.Cli.Settings;
using DreamBooth.Imaging;
using DreamBooth.Pipelines;
using DreamBooth.Torch;
using Spectre.Console;
using Spectre.Console.Cli;

public sealed class GenerateCommand(IAnsiConsole console) : Command<GenerateCommand.Settings>
{
    public sealed class Settings : ModelSettings
    {
        [CommandOption("-p|--prompt <PROMPT>")]
        [Description("The prompt, e.g. \"a photo of sks dog on the beach\".")]
        public string? Prompt { get; init; }

        [CommandOption("-n|--negative-prompt <TEXT>")]
        [Description("What to steer away from (default: none; SDXL then uses zero embeddings, as diffusers).")]
        public string? NegativePrompt { get; init; }

        [CommandOption("--prompts-file <FILE>")]
        [Description("A text file with one prompt per line (blank lines and lines starting with # are skipped).")]
        public string? PromptsFile { get; init; }

        [CommandOption("-s|--seed <SEED>")]
        [Description("Seed of the CPU generator, as torch.Generator(\"cpu\").manual_seed(SEED) (default: random).")]
        public string? Seed { get; init; }

        [CommandOption("--steps <N>")]
        [Description("Denoising steps (default: 50).")]
        [DefaultValue(50)]
        public int Steps { get; init; } = 50;

        [CommandOption("-g|--guidance-scale <SCALE>")]
        [Description("Classifier-free guidance scale; 1 or less turns guidance off (default: 7.5).")]
        [DefaultValue(7.5)]
        public double GuidanceScale { get; init; } = 7.5;

        [CommandOption("--scheduler <NAME>")]
        [Description("Sampler: a diffusers class name or alias (ddim, pndm, ddpm, euler, euler-a, dpm++2m, dpm++2m-karras, lms). Default: the model's.")]
        public string? Scheduler { get; init; }

        [CommandOption("-W|--width <PIXELS>")]
        [Description("Image width, a multiple of the VAE's scale factor: 8 for real models (default: the model's native size).")]
        public int? Width { get; init; }

        [CommandOption("-H|--height <PIXELS>")]
        [Description("Image height, a multiple of the VAE's scale factor: 8 for real models (default: the model's native size).")]
        public int? Height { get; init; }

        [CommandOption("--num-images <N>")]
        [Description("Images per prompt, drawn as one batch from the seed (default: 1).")]
        [DefaultValue(1)]
        public int NumImages { get; init; } = 1;

        [CommandOption("--clip-skip <N>")]
        [Description("Use the CLIP layer N before the last (diffusers' clip_skip; A1111's \"CLIP skip\" minus one).")]
        public int? ClipSkip { get; init; }

        [CommandOption("--lora <FILE[:SCALE]>")]
        [Description("A LoRA file (diffusers, peft or kohya naming; LyCORIS LoHa/LoKr in kohya naming) with an optional scale, e.g. sks.safetensors:0.8. Repeatable.")]
        public string[] Lora { get; init; } = [];

        [CommandOption("--vae-tiling")]
        [Description("Decode in overlapping tiles (large images with bounded memory, no visible seams).")]
        public bool VaeTiling { get; init; }

        [CommandOption("--vae-slicing")]
        [Description("Decode the batch one image at a time (lower peak memory).")]
        public bool VaeSlicing { get; init; }

        [CommandOption("--attention-slicing [SLICE]")]
        [Description("Compute attention a few (batch × head) rows at a time (default slice 1) to lower peak memory.")]
        public FlagValue<int>? AttentionSlicing { get; init; }

        [CommandOption("-o|--output <DIR>")]
        [Description("Output folder (default: outputs). PNGs carry A1111 'parameters' metadata and a JSON sidecar.")]
        [DefaultValue("outputs")]
        public string Output { get; init; } = "outputs";

        public override ValidationResult Validate()
        {
            if (Prompt is null && PromptsFile is null) return ValidationResult.Error("Give --prompt or --prompts-file.");
            if (Steps < 1) return ValidationResult.Error("--steps must be at least 1.");
            // NaN/infinite guidance gives black images and cannot be written into the sidecar's JSON.
            if (!double.IsFinite(GuidanceScale)) return ValidationResult.Error($"--guidance-scale must be a finite number, not {GuidanceScale}.");
            if (NumImages < 1) return ValidationResult.Error("--num-images must be at least 1.");
            if (Width is < 1 || Height is < 1) return ValidationResult.Error("--width and --height must be positive.");
            if (AttentionSlicing is { IsSet: true, Value: < 0 }) return ValidationResult.Error("--attention-slicing must be 1 or more.");
            return base.Validate();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var prompts = ReadPrompts(settings);
        if (File.Exists(settings.Output)) throw new DreamBoothException($"--output {settings.Output}: is a file, not a folder.");
        var seed = settings.Seed is null ? Rng.RandomSeed() : Rng.ParseSeed(settings.Seed);
        var loraSpecs = settings.Lora.Select(LoraOptions.Parse).ToList();
        using var pipe = settings.LoadPipeline(console, cancellationToken);
        var loras = LoraOptions.Apply(pipe, loraSpecs);
        pipe.Vae.UseTiling = settings.VaeTiling;
        pipe.Vae.UseSlicing = settings.VaeSlicing;
        if (settings.AttentionSlicing is { IsSet: true } slicing)
        {
            var size = slicing.Value > 0 ? slicing.Value : 1;
            DreamBooth.Models.Attention.SetSlicing(pipe.Unet, size);
            DreamBooth.Models.Attention.SetSlicing(pipe.Vae, size);
        }
        Directory.CreateDirectory(settings.Output);
        var clock = Stopwatch.StartNew();
        var writer = new GeneratedImageWriter
        {
            InfotextExtra = loras.Count > 0 ? [new("Lora", string.Join(", ", loras.Select(l => $"{l.Name}:{l.Scale}")))] : [],
            SidecarExtra = [new("loras", new JsonArray([.. loras.Select(l => new JsonObject { ["file"] = l.File, ["scale"] = l.Scale })]))],
        };
        var written = new List<(string Path, RgbImage Image)>();
        GenerationParameters? first = null;
        int index = NextIndex(settings.Output);

        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                foreach (var prompt in prompts)
                {
                    var request = new GenerationRequest
                    {
                        Prompt = prompt,
                        NegativePrompt = settings.NegativePrompt,
                        Steps = settings.Steps,
                        GuidanceScale = settings.GuidanceScale,
                        Width = settings.Width,
                        Height = settings.Height,
                        NumImages = settings.NumImages,
                        Seed = seed,
                        ClipSkip = settings.ClipSkip,
                        Scheduler = settings.Scheduler,
                    };
                    var task = ctx.AddTask(prompt.Length == 0 ? "(empty prompt)" : Format.Text(Shorten(prompt)), maxValue: settings.Steps);
                    using var result = pipe.Generate(request, step => task.Value = step.Index + 1, cancellationToken);
                    task.MaxValue = task.Value;
                    var parameters = GenerationParameters.From(request, result, pipe.Name);
                    first ??= parameters;
                    var images = GeneratedImageWriter.ToImages(result);
                    var paths = writer.WriteBatch(parameters, images, (_, _) => Path.Combine(settings.Output, $"{index++:D5}-{result.Seed}.png"), sidecars: true);
                    written.AddRange(paths.Zip(images));
                }
            });

        // One grid over every prompt's images, labelled with the first batch's parameters (as A1111 labels its grids).
        if (written.Count > 1) writer.WriteGrid(Path.Combine(settings.Output, $"grid-{seed}.png"), first!, [.. written.Select(w => w.Image)], sidecar: false);

        using var process = Process.GetCurrentProcess();
        console.MarkupLine($"[green]{written.Count} image(s)[/] in {Format.Text(settings.Output)} ({clock.Elapsed.TotalSeconds:0.0} s, peak memory {Format.Bytes(process.PeakWorkingSet64)}).");
        foreach (var (path, _) in written) console.WriteLine("  " + DreamBooth.Text.Names.Printable(path));
        return 0;
    }

    private static List<string> ReadPrompts(Settings settings)
    {
        var prompts = new List<string>();
        if (settings.Prompt is not null) prompts.Add(CheckText(settings.Prompt, "--prompt"));
        if (settings.PromptsFile is not null)
        {
            if (Directory.Exists(settings.PromptsFile)) throw new DreamBoothException($"--prompts-file {settings.PromptsFile}: is a folder, not a text file.");
            if (!File.Exists(settings.PromptsFile)) throw new DreamBoothException($"{settings.PromptsFile}: prompts file not found.");
            var text = CheckText(DreamBooth.IO.BoundedFile.ReadAllText(settings.PromptsFile), settings.PromptsFile);
            prompts.AddRange(text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')));
            if (prompts.Count == 0) throw new DreamBoothException($"{settings.PromptsFile}: no prompts in the file.");
        }
        return prompts;
    }

    // A NUL cannot go into the PNG's text chunk: refuse it before the model loads, not after generating.
    private static string CheckText(string text, string source) =>
        text.Contains('\0') ? throw new DreamBoothException($"{source}: contains a NUL byte; prompts must be plain text.") : text;

    private static int NextIndex(string dir) =>
        Directory.EnumerateFiles(dir, "*.png")
            .Select(f => Path.GetFileName(f).Split('-')[0])
            .Select(s => int.TryParse(s, out var n) ? n + 1 : 0)
            .DefaultIfEmpty(0).Max();

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..37] + "…";
}
