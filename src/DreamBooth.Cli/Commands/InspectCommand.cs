namespace DreamBooth.Cli.Commands;

using System.ComponentModel;
using System.Text.Json;
using DreamBooth.Cli.Rendering;
using DreamBooth.Cli.Settings;
using DreamBooth.IO;
using DreamBooth.Loading;
using DreamBooth.Lora;
using Spectre.Console;
using Spectre.Console.Cli;

public sealed class InspectCommand(IAnsiConsole console) : Command<InspectCommand.Settings>
{
    public sealed class Settings : CommonSettings
    {
        [CommandArgument(0, "<MODEL>")]
        [Description("A diffusers folder, a single-file .safetensors checkpoint, or a hub repo id org/name[[@revision]].")]
        public string Model { get; init; } = "";

        [CommandOption("--json")]
        [Description("Print the components as JSON ({\"components\": [[{\"name\", \"class\", \"parameters\", \"dtypes\", \"bytes\"}]]}) instead of a table.")]
        public bool Json { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var folder = ModelLocator.Resolve(settings.Model, console, quiet: settings.Json, cancellationToken);
        var components = PipelineInspector.Inspect(folder);
        if (File.Exists(folder) && components.All(c => c.Name == "other")) components = LoraSummary(folder) ?? components;
        if (settings.Json)
        {
            var doc = new
            {
                components = components.Select(c => new { name = c.Name, @class = c.Class, parameters = c.Parameters, dtypes = c.Dtypes, bytes = c.Bytes }),
            };
            console.Profile.Out.Writer.WriteLine(JsonSerializer.Serialize(doc, DreamBooth.IO.JsonText.Indented));
            return 0;
        }
        var table = new Table().Title(Format.Text(settings.Model));
        table.AddColumn("component").AddColumn("class").AddColumn(new TableColumn("parameters").RightAligned())
             .AddColumn("dtypes").AddColumn(new TableColumn("size").RightAligned());
        foreach (var c in components)
            table.AddRow(Format.Text(c.Name), Format.Text(c.Class), c.Parameters.ToString("N0"), string.Join(", ", c.Dtypes), Format.Bytes(c.Bytes));
        table.AddRow("[bold]total[/]", "", $"[bold]{components.Sum(c => c.Parameters):N0}[/]", "", Format.Bytes(components.Sum(c => c.Bytes)));
        console.Write(table);
        return 0;
    }

    // A lone .safetensors that is no checkpoint is most often a LoRA: say which components it adapts, in which naming and rank.
    private static IReadOnlyList<ComponentSummary>? LoraSummary(string path)
    {
        LoraFile lora;
        try { lora = LoraFile.Open(path); }
        catch (DreamBoothException) { return null; }
        using (lora)
        {
            var header = SafeTensorsFile.ReadHeader(path).ToDictionary(t => t.Name, StringComparer.Ordinal);
            return lora.Entries.GroupBy(e => e.Component).OrderBy(g => g.Key).Select(g =>
            {
                var weights = g.SelectMany(e => e.Tensors.Values).Select(t => header[t.Key]).ToList();
                var alphas = g.Select(e => e.AlphaKey).OfType<string>().Select(k => header[k]);
                var ranks = string.Join("/", g.Select(e => e.Rank?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "full").Distinct().Order());
                var kinds = string.Join("+", g.Select(e => e.Algorithm).Distinct().Order());
                var name = g.Key switch { LoraComponent.Unet => "unet", LoraComponent.TextEncoder => "text_encoder", _ => "text_encoder_2" };
                return new ComponentSummary(name, $"{kinds} ({lora.Format} naming, rank {ranks}, {g.Count()} modules)",
                    weights.Sum(t => t.Numel), weights.Select(t => t.Dtype).Distinct().Order().ToList(), weights.Concat(alphas).Sum(t => t.ByteLength));
            }).ToList();
        }
    }
}
