namespace DreamBooth.Cli.Settings;

using System.ComponentModel;
using Spectre.Console.Cli;

/// <summary>Options every command takes.</summary>
public class CommonSettings : CommandSettings
{
    [CommandOption("--device <DEVICE>")]
    [Description("cpu, cuda or cuda:N (default: CUDA when present, else CPU).")]
    public string? Device { get; init; }

    [CommandOption("--threads <N>")]
    [Description("CPU threads for tensor math (default: libtorch's choice).")]
    public int Threads { get; init; }

    [CommandOption("--verbose")]
    [Description("Print stack traces with errors.")]
    public bool Verbose { get; init; }
}
