namespace DreamBooth.Cli.Commands;

using System.ComponentModel;
using DreamBooth.Cli.Settings;
using System.Globalization;
using System.Text.Json.Nodes;
using DreamBooth.Imaging;
using DreamBooth.IO;
using DreamBooth.Torch;
using DreamBooth.ToyWorld;
using Spectre.Console;
using Spectre.Console.Cli;

/// <summary>`dreambooth toyworld evaluate`: how often a toy base model draws the shape, colour and background its prompt names.</summary>
public sealed class ToyWorldEvaluateCommand(IAnsiConsole console) : Command<ToyWorldEvaluateCommand.Settings>
{
    public sealed class Settings : CpuSettings
    {
        [CommandOption("--base <DIR>")][Description("The toy base model (default models/toyworld-base in the repository).")]
        public string? Base { get; init; }
        [CommandOption("--output <DIR>")][Description("Folder for rates.json and grid.png (default toyworld-rates).")]
        public string Output { get; init; } = "toyworld-rates";
        [CommandOption("--images-per-prompt <N>")][Description("Images of each ordinary caption (108 of them) (default 2).")]
        public int ImagesPerPrompt { get; init; } = 2;
        [CommandOption("--seed <N>")][Description("Seed of the classifier and of the first caption's images; caption k uses seed + k (default 0).")]
        public int Seed { get; init; }
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var baseModel = s.Base ?? ToyDemo.DefaultBase;
        if (!Directory.Exists(baseModel)) throw new DreamBoothException($"The toy base model {baseModel} does not exist; pass --base.");
        TorchRuntime.SetThreads(s.Threads);
        ToyBaseRates? rates = null;
        double accuracy = 0;
        console.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var train = ctx.AddTask("classifier", maxValue: new ToyClassifierOptions().Steps);
                using var classifier = ToyClassifier.Train(new ToyClassifierOptions { Seed = s.Seed },
                    new SyncProgress<(int Step, int Steps, double Loss)>(p => train.Value = p.Step), cancellationToken);
                accuracy = classifier.Accuracy;
                var sample = ctx.AddTask("captions", maxValue: ToyBaseEvaluation.AllScenes().Count);
                rates = ToyBaseEvaluation.Measure(baseModel, classifier, s.ImagesPerPrompt, s.Seed, report: (k, _) => sample.Value = k, cancel: cancellationToken);
            });
        Directory.CreateDirectory(s.Output);
        var json = new JsonObject
        {
            ["base_model"] = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(baseModel))),
            ["seed"] = s.Seed, ["images_per_prompt"] = s.ImagesPerPrompt, ["classifier_accuracy"] = Math.Round(accuracy, 4),
            ["generated"] = rates!.Generated.ToJson(), ["clean_renders"] = rates.OnRenders.ToJson(),
        };
        AtomicFile.WriteAllText(Path.Combine(s.Output, "rates.json"), json.ToJsonString(JsonText.Indented) + "\n");
        // The first image of each caption, one row per shape (captions come in shape order).
        var first = rates.Images.Where((_, i) => i % s.ImagesPerPrompt == 0).ToList();
        int shapes = Enum.GetValues<ToyShape>().Length;
        PngWriter.Write(Path.Combine(s.Output, "grid.png"), ImageGrid.Make(first, shapes, first.Count / shapes));
        var table = new Table().AddColumns("factor", "generated", "clean renders");
        foreach (var (name, g, r) in new[]
                 {
                     ("shape", rates.Generated.Shape, rates.OnRenders.Shape), ("object colour", rates.Generated.ObjectColor, rates.OnRenders.ObjectColor),
                     ("background", rates.Generated.Background, rates.OnRenders.Background), ("all three", rates.Generated.All, rates.OnRenders.All),
                 })
            table.AddRow(name, g.ToString("P1", CultureInfo.InvariantCulture), r.ToString("P1", CultureInfo.InvariantCulture));
        console.Write(table);
        console.MarkupLine($"[green]Done[/]: {Markup.Escape(Path.Combine(s.Output, "rates.json"))} and grid.png");
        return 0;
    }
}
