namespace DreamBooth.Cli.Settings;

using System.ComponentModel;
using Spectre.Console;
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

    public override ValidationResult Validate()
    {
        // More threads than cores only adds contention: 1000 threads made no progress at all.
        if (Threads < 0 || Threads > Environment.ProcessorCount)
            return ValidationResult.Error($"--threads must be between 0 (libtorch's choice) and {Environment.ProcessorCount} (the CPU cores here), not {Threads}.");
        return base.Validate();
    }
}
