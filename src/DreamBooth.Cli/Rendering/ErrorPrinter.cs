namespace DreamBooth.Cli.Rendering;

using System.Text.RegularExpressions;
using DreamBooth.Training;
using Spectre.Console.Cli;

/// <summary>Errors are one unwrapped line on stderr (the stack trace only with --verbose) and a non-zero exit code.</summary>
internal static partial class ErrorPrinter
{
    public static int Print(TextWriter error, Exception e, bool verbose, IReadOnlyList<string>? args = null, bool terminated = false)
    {
        var (code, message) = e switch
        {
            OperationCanceledException when terminated => (143, "terminated (SIGTERM)"),
            // The library names options by key (instance_data_dir); here they were given as flags.
            TrainOptionException option => (1, option.Describe(key => TrainOption.Find(key)?.Flag ?? key)),
            DreamBoothException => (1, e.Message),
            CommandParseException or CommandRuntimeException => (2, UsageMessage(e.Message, args ?? [])),
            OperationCanceledException => (130, "cancelled"),
            OutOfMemoryException => (1, "out of memory: " + e.Message),
            IOException io => (1, io.Message),
            UnauthorizedAccessException ua => (1, ua.Message),
            _ => (3, $"internal error ({e.GetType().Name}): {e.Message}"),
        };
        message = string.Join(' ', message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        // One readable line whatever the input held: control characters escaped, and a bounded length (names from a
        // damaged file can be megabytes long).
        message = DreamBooth.Text.Names.Printable(message);
        if (message.Length > MaxMessage) message = $"{message[..(MaxMessage - 40)]}… ({message.Length:N0} characters in all)";
        error.WriteLine($"error: {message}");
        if (verbose) error.WriteLine(e.ToString());
        else if (code == 3) error.WriteLine("(run with --verbose for the stack trace)");
        return code;
    }

    private const int MaxMessage = 2000;

    // Spectre says "Failed to convert 'abc' to Int32." without the option: name it, and the type in words.
    private static string UsageMessage(string message, IReadOnlyList<string> args)
    {
        var unknown = UnknownOption().Match(message);
        if (unknown.Success && args.Count > 0 && CliApp.SettingsTypes.TryGetValue(args[0], out var settings))
        {
            var names = settings.GetProperties()
                .SelectMany(p => p.GetCustomAttributes(typeof(CommandOptionAttribute), true).Cast<CommandOptionAttribute>())
                .SelectMany(o => o.LongNames);
            var hint = DreamBooth.Text.NameSuggestion.Closest(unknown.Groups[1].Value, names);
            return hint is null ? message : $"{message.TrimEnd('.')} (did you mean --{hint}?).";
        }
        var match = ConversionFailed().Match(message);
        if (!match.Success) return message;
        var (value, type) = (match.Groups[1].Value, match.Groups[2].Value);
        string? option = null;
        for (int i = 0; i < args.Count && option is null; i++)
        {
            if (args[i].StartsWith('-') && args[i].EndsWith("=" + value, StringComparison.Ordinal)) option = args[i].Split('=')[0];
            else if (i > 0 && args[i] == value && args[i - 1].StartsWith('-')) option = args[i - 1];
        }
        // Spectre names an int? option's type "Nullable`1": the option's property says what it takes.
        if (option is not null && args.Count > 0 && OptionType(args[0], option) is { } declared) type = declared.Name;
        var wanted = type switch
        {
            "Int32" or "Int64" => "a whole number",
            "Double" or "Single" or "Decimal" => "a number",
            "Boolean" => "true or false",
            _ when type.StartsWith("Nullable", StringComparison.Ordinal) => "a valid value",
            _ => type,
        };
        return option is null ? $"'{value}' is not {wanted}." : $"{option}: '{value}' is not {wanted}.";
    }

    private static Type? OptionType(string command, string flag)
    {
        if (!CliApp.SettingsTypes.TryGetValue(command, out var settings)) return null;
        var name = flag.TrimStart('-');
        var property = settings.GetProperties().FirstOrDefault(p => p.GetCustomAttributes(typeof(CommandOptionAttribute), true)
            .Cast<CommandOptionAttribute>().Any(o => o.LongNames.Contains(name) || o.ShortNames.Contains(name)));
        return property is null ? null : Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
    }

    [GeneratedRegex(@"^Unknown option '([^']+)'")]
    private static partial Regex UnknownOption();

    [GeneratedRegex(@"^Failed to convert '(.*)' to ([\w`]+)\.?$", RegexOptions.Singleline)]
    private static partial Regex ConversionFailed();
}
