namespace DreamBooth.Cli;

using System.Reflection;
using System.Runtime.InteropServices;
using DreamBooth.Cli.Commands;
using DreamBooth.Cli.Rendering;
using DreamBooth.Cli.Settings;
using Spectre.Console;
using Spectre.Console.Cli;

/// <summary>The `dreambooth` command line: parsing and rendering only; the work is in the DreamBooth library.</summary>
public static class CliApp
{
    /// <summary>Exit codes: 0 ok, 1 bad input/model/environment (DreamBoothException), 2 usage error, 3 internal error,
    /// 130 Ctrl-C, 143 SIGTERM.</summary>
    public static int Run(string[] args, IAnsiConsole? console = null, CancellationToken cancellationToken = default)
    {
        var app = new CommandApp();
        bool verbose = args.Contains("--verbose");
        app.Configure(config => Configure(config, console));
        // Ctrl-C cancels the token (training stops between steps, generation between denoising steps) so the
        // error path runs and no output is left half-written; a second Ctrl-C ends the process at once.
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        ConsoleCancelEventHandler? onCancel = null;
        if (console is null)
        {
            onCancel = (_, e) =>
            {
                if (cancel.IsCancellationRequested) return;
                e.Cancel = true;
                cancel.Cancel();
            };
            Console.CancelKeyPress += onCancel;
        }
        // SIGTERM (what container schedulers send first) is a Ctrl-C too: the runtime would otherwise exit mid-step
        // without naming the checkpoint. A second SIGTERM ends the process at once; the exit code is 128 + 15.
        bool terminated = false;
        using var onTerm = console is null ? PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            if (cancel.IsCancellationRequested) return;
            context.Cancel = true;
            terminated = true;
            cancel.Cancel();
        }) : null;
        try
        {
            return app.Run(args, cancel.Token);
        }
        catch (Exception e)
        {
            return ErrorPrinter.Print(console?.Profile.Out.Writer ?? Console.Error, e, verbose, args, terminated);
        }
        finally
        {
            if (onCancel is not null) Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>Commands, examples and parsing rules (tests add an interceptor to see what a command line binds to).</summary>
    internal static void Configure(IConfigurator config, IAnsiConsole? console)
    {
        config.SetApplicationName("dreambooth");
        config.SetApplicationVersion(Version);
        if (console is not null) config.ConfigureConsole(console);
        config.PropagateExceptions();
        config.UseStrictParsing(); // a mistyped option must be an error, not silently ignored
        config.AddCommand<InspectCommand>("inspect")
            .WithDescription("Show a pipeline's components: class, parameter count, dtypes and file sizes.")
            .WithExample("inspect", "tests/fixtures/sd15-tiny")
            .WithExample("inspect", "stabilityai/stable-diffusion-2-1@main", "--json");
        config.AddCommand<GenerateCommand>("generate")
            .WithDescription("Generate images from a prompt (seeds reproduce diffusers' CPU-generator images).")
            .WithExample("generate", "--prompt", "\"a photo of sks dog\"", "--seed", "42", "--num-images", "4")
            .WithExample("generate", "-m", "runwayml/stable-diffusion-v1-5", "-p", "\"a photo of sks dog\"", "--lora", "out/pytorch_lora_weights.safetensors:0.8");
        AddTrainCommand(config, "train")
            .WithDescription("DreamBooth training (LoRA or full fine-tuning) with prior preservation, checkpoints and exact resume.")
            .WithExample("train", "--instance-data-dir", "photos/dog", "--instance-prompt", "\"a photo of sks dog\"", "--max-train-steps", "50")
            .WithExample("train", "--config", "train.yaml", "--resume-from-checkpoint", "latest");
        config.AddCommand<EvaluateCommand>("evaluate")
            .WithDescription("Score a model on the DreamBooth paper's metrics (DINO, CLIP-I, CLIP-T, PRES, DIV) over prompts × fixed seeds, with grids and a report.")
            .WithExample("evaluate", "--lora", "out/pytorch_lora_weights.safetensors", "--subject-dir", "photos/dog", "--class-noun", "dog", "--output", "eval/dog");
        config.AddCommand<CheckDataCommand>("check-data")
            .WithDescription("Check a folder of training photos: count, duplicates, sizes, aspect ratios, EXIF rotation, unreadable files.")
            .WithExample("check-data", "photos/dog");
        config.AddBranch("toyworld", toy =>
        {
            toy.SetDescription("The toy world: a procedural world of captioned images and its base model.");
            toy.AddCommand<ToyWorldPretrainCommand>("pretrain")
                .WithDescription("Pretrain the toy base model from scratch (VAE, then UNet + text encoder) and save it as a diffusers folder.")
                .WithExample("toyworld", "pretrain", "--output", "toyworld-base", "--steps", "6000");
            toy.AddCommand<ToyWorldPretrainClipCommand>("pretrain-clip")
                .WithDescription("Train the toy world's CLIP from scratch (contrastive, on renders and captions) and save it as a transformers CLIPModel folder for evaluate --clip.")
                .WithExample("toyworld", "pretrain-clip", "--output", "models/toyworld-clip");
            toy.AddCommand<ToyWorldEvaluateCommand>("evaluate")
                .WithDescription("Measure how often a toy base model draws the shape, object colour and background its prompt names.")
                .WithExample("toyworld", "evaluate", "--base", "models/toyworld-base", "--output", "rates");
        });
        config.AddCommand<DemoCommand>("demo")
            .WithDescription("DreamBooth LoRA on the toy world's subject, without and with prior preservation: grids, metrics.json and report.html.")
            .WithExample("demo", "--quick")
            .WithExample("demo", "--base", "models/toyworld-base", "--output", "demo", "--seed", "1");
        config.AddCommand<BenchCommand>("bench")
            .WithDescription("Measure speed and memory of the main jobs (tiny model and SD 1.5's shape) against this machine's own limits.")
            .WithExample("bench", "--quick")
            .WithExample("bench", "--json", "bench.json");
        config.AddCommand<EnvCommand>("env")
            .WithDescription("Show versions and devices, and check that the tensor engine starts.");
    }

    // AddCommand<TrainCommand<TrainSettings.Type>>: the settings type exists only at run time, so close it by reflection.
    private static ICommandConfigurator AddTrainCommand(IConfigurator config, string name) =>
        (ICommandConfigurator)typeof(IConfigurator).GetMethod(nameof(IConfigurator.AddCommand))!
            .MakeGenericMethod(typeof(TrainCommand<>).MakeGenericType(TrainSettings.Type))
            .Invoke(config, [name])!;

    /// <summary>Each command's settings type (for "did you mean" hints on mistyped options).</summary>
    internal static readonly IReadOnlyDictionary<string, Type> SettingsTypes = new Dictionary<string, Type>(StringComparer.Ordinal)
    {
        ["inspect"] = typeof(InspectCommand.Settings),
        ["generate"] = typeof(GenerateCommand.Settings),
        ["train"] = TrainSettings.Type,
        ["check-data"] = typeof(CheckDataCommand.Settings),
        ["toyworld"] = typeof(ToyWorldPretrainCommand.Settings),
        ["demo"] = typeof(DemoCommand.Settings),
        ["bench"] = typeof(BenchCommand.Settings),
        ["env"] = typeof(CommonSettings),
    };

    public static string Version =>
        typeof(CliApp).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}
