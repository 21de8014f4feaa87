namespace DreamBooth.Cli.Commands;

using System.ComponentModel;
using System.Text.Json;
using DreamBooth.Cli.Rendering;
using DreamBooth.Data;
using Spectre.Console;
using Spectre.Console.Cli;

/// <summary>`dreambooth check-data DIR`: what is wrong with the photos, before any training.</summary>
public sealed class CheckDataCommand(IAnsiConsole console) : Command<CheckDataCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<DIR>")]
        [Description("The instance (or class) image folder.")]
        public string Dir { get; init; } = "";

        [CommandOption("--resolution <PIXELS>")]
        [Description("Training resolution: smaller images are reported as low resolution (default 512).")]
        [DefaultValue(512)]
        public int Resolution { get; init; } = 512;

        [CommandOption("--json")]
        [Description("Print the findings as JSON.")]
        public bool Json { get; init; }

        [CommandOption("--verbose")]
        [Description("Print stack traces with errors.")]
        public bool Verbose { get; init; }

        public override ValidationResult Validate() =>
            Resolution < 8 ? ValidationResult.Error($"--resolution must be at least 8, not {Resolution}.") : base.Validate();
    }

    /// <summary>Exit code 0: no errors (warnings allowed); 1: at least one error finding.</summary>
    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var report = DataCheck.Run(settings.Dir, new DataCheckOptions { Resolution = settings.Resolution });
        if (settings.Json)
        {
            console.Profile.Out.Writer.WriteLine(JsonSerializer.Serialize(new
            {
                directory = report.Directory,
                images = report.Images.Count,
                findings = report.Findings.Select(f => new { severity = f.Severity.ToString().ToLowerInvariant(), file = f.File, kind = f.Kind, message = f.Message }),
            }, DreamBooth.IO.JsonText.Indented));
            return report.HasErrors ? 1 : 0;
        }
        var table = new Table().Title(Format.Text(report.Directory)).AddColumn("").AddColumn("file").AddColumn("finding");
        foreach (var f in report.Findings)
        {
            var mark = f.Severity switch { Severity.Error => "[red]error[/]", Severity.Warning => "[yellow]warning[/]", _ => "[grey]info[/]" };
            table.AddRow(mark, Format.Text(Path.GetFileName(f.File)), Format.Text(f.Message));
        }
        console.Write(table);
        console.MarkupLine($"{report.Images.Count} image(s), {report.ErrorCount} error(s), {report.WarningCount} warning(s).");
        return report.HasErrors ? 1 : 0;
    }
}
