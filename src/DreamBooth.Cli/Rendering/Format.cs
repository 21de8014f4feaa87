namespace DreamBooth.Cli.Rendering;

using System.Text.Json;

internal static class Format
{

    /// <summary>Text from files or the user for Spectre markup: markup escaped, control characters written as escapes
    /// (a file name with an ESC or OSC sequence printed raw can rewrite the terminal).</summary>
    public static string Text(string text) => Spectre.Console.Markup.Escape(DreamBooth.Text.Names.Printable(text));

    public static string Bytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1) { value /= 1024; unit++; }
        return unit == 0 ? $"{bytes} B" : $"{value:0.0} {units[unit]}";
    }
}
