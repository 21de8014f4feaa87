namespace DreamBooth.Tests.Cli;

using DreamBooth.Cli;
using Spectre.Console;

/// <summary>Runs the CLI in-process with a recording console.</summary>
internal static class CliRunner
{
    /// <summary>Console width of every run: Spectre wraps help and tables to it, so output must not depend on the terminal.</summary>
    public const int Width = 200;

    public static (int ExitCode, string Output) Run(params string[] args) => Run(CancellationToken.None, args);

    public static (int ExitCode, string Output) Run(CancellationToken cancellationToken, params string[] args)
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(writer),
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = Width;
        var code = CliApp.Run(args, console, cancellationToken);
        return (code, writer.ToString());
    }
}
