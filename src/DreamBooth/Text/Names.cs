namespace DreamBooth.Text;

using System.Globalization;
using System.Text;

/// <summary>Names from files (tensor keys, file names, tokens) made fit for a one-line message on a terminal.</summary>
public static class Names
{
    /// <summary>Longest name echoed whole; a damaged file can hold a megabyte-long key.</summary>
    public const int MaxLength = 120;

    /// <summary><paramref name="name"/> cut to <see cref="MaxLength"/> characters (saying how long it was), control characters escaped.</summary>
    public static string Short(string name) =>
        Printable(name.Length <= MaxLength ? name : $"{name[..(MaxLength - 20)]}… ({name.Length:N0} characters)");

    /// <summary>
    /// Control characters (ESC, BEL, CR, C1 controls, …) written as \e, \a, \r or \u{..} escapes: a file name holding an
    /// escape sequence must not retitle, recolour or rewrite the user's terminal when we print it.
    /// </summary>
    public static string Printable(string text)
    {
        if (!text.Any(IsUnsafe)) return text;
        var sb = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            if (!IsUnsafe(c)) sb.Append(c);
            else sb.Append(c switch
            {
                '\x1b' => "\\e",
                '\a' => "\\a",
                '\r' => "\\r",
                '\n' => "\\n",
                '\t' => "\\t",
                '\0' => "\\0",
                _ => "\\u{" + ((int)c).ToString("x", CultureInfo.InvariantCulture) + "}",
            });
        }
        return sb.ToString();
    }

    // C0 and C1 controls and DEL, plus the bidirectional overrides that reorder what a terminal shows.
    private static bool IsUnsafe(char c) => char.IsControl(c) || c is >= '\u202a' and <= '\u202e' or >= '\u2066' and <= '\u2069';
}
