namespace DreamBooth.Cli.Settings;

using System.ComponentModel;
using Spectre.Console;
using Spectre.Console.Cli;

/// <summary>Options every command takes: CPU threads and stack traces.</summary>
public class CpuSettings : CommandSettings
{
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

/// <summary>Options of every command that loads a model: <see cref="CpuSettings"/> and the device.</summary>
public class CommonSettings : CpuSettings
{
    [CommandOption("--device <DEVICE>")]
    [Description("cpu, cuda or cuda:N (default: CUDA when present, else CPU).")]
    public string? Device { get; init; }
}
