namespace DreamBooth.Cli.Rendering;

using Spectre.Console.Cli;

/// <summary>Errors are one unwrapped line on stderr (the stack trace only with --verbose) and a non-zero exit code.</summary>
internal static class ErrorPrinter
{
    public static int Print(TextWriter error, Exception e, bool verbose)
    {
        var (code, message) = e switch
        {
            DreamBoothException => (1, e.Message),
            CommandParseException or CommandRuntimeException => (2, e.Message),
            OperationCanceledException => (130, "cancelled"),
            OutOfMemoryException => (1, "out of memory: " + e.Message),
            IOException io => (1, io.Message),
            UnauthorizedAccessException ua => (1, ua.Message),
            _ => (3, $"internal error ({e.GetType().Name}): {e.Message}"),
        };
        message = string.Join(' ', message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        error.WriteLine($"error: {message}");
        if (verbose) error.WriteLine(e.ToString());
        else if (code == 3) error.WriteLine("(run with --verbose for the stack trace)");
        return code;
    }
}
