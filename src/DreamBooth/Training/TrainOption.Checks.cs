namespace DreamBooth.Training;

using System.Globalization;

// The checks a TrainOptionAttribute declares. Messages name options by key, as {0} (this option) and {1} (the
// option of When or Unless), so that a front end can name them its own way (TrainOptionException.Describe).
public sealed partial class TrainOption
{
    /// <summary>
    /// Checks this option in <paramref name="options"/> as declared; throws a <see cref="TrainOptionException"/>.
    /// Returns the options with a choice in its canonical spelling (e.g. <c>Cosine</c> → <c>cosine</c>).
    /// </summary>
    internal TrainOptions Checked(TrainOptions options)
    {
        if (declared.Unless is { } unless && IsGiven(Find(unless) ?? throw new InvalidOperationException($"{Key}: Unless names no option '{unless}'"), options))
            return IsGiven(this, options) ? throw new TrainOptionException("{0} cannot be used with {1}, which replaces it.", Key, unless) : options;
        if (declared.When is { } when && !IsOn(Find(when) ?? throw new InvalidOperationException($"{Key}: When names no option '{when}'"), options))
            return options;
        var value = Get(options);
        string[] keys = declared.When is null ? [Key] : [Key, declared.When];
        if (declared.Required && (value is null || value is string s && string.IsNullOrWhiteSpace(s) || value is IReadOnlyList<string> { Count: 0 }))
        {
            var example = declared.Example is null ? "" : $" (e.g. \"{TrainOptionException.Literal(declared.Example)}\")";
            throw new TrainOptionException((declared.When is null ? "{0} is required" : "{1} needs {0}") + example + ".", keys);
        }
        if (value is null) return options;
        if (Choices.Count > 0 && value is string text)
        {
            var canonical = Choices.FirstOrDefault(c => string.Equals(Canonical(c), Canonical(text), StringComparison.Ordinal))
                            ?? throw new TrainOptionException($"{{0}} must be {JoinOr(Choices)}, not '{TrainOptionException.Literal(text)}'.", keys);
            if (canonical != text) options = With(options, canonical);
        }
        if (value is int or double && Range() is { } range)
        {
            var number = Convert.ToDouble(value, CultureInfo.InvariantCulture);
            bool ok = double.IsFinite(number)
                      && (double.IsNaN(declared.Min) || number >= declared.Min)
                      && (!declared.Positive || number > 0)
                      && (double.IsNaN(declared.Below) || number < declared.Below)
                      && (declared.MultipleOf == 0 || number % declared.MultipleOf == 0);
            if (!ok) throw new TrainOptionException($"{{0}} must be {range}, not {TrainOptionException.Literal(Format(value))}.", keys);
        }
        if (declared.Folder && value is string path && path.Length > 0)
        {
            var shown = TrainOptionException.Literal(path);
            if (File.Exists(path))
                throw new TrainOptionException(declared.MustExist ? $"{{0}} {shown}: is a file; give the folder it is in." : $"{{0}} {shown}: is a file, not a folder.", keys);
            if (declared.MustExist && !Directory.Exists(path))
                throw new TrainOptionException($"{{0}} {shown}: folder not found.", keys);
        }
        if (declared.ExistingFile && value is string file)
        {
            var shown = TrainOptionException.Literal(file);
            if (string.IsNullOrWhiteSpace(file)) throw new TrainOptionException("{0} needs a file name.", keys);
            if (Directory.Exists(file)) throw new TrainOptionException($"{{0}} {shown}: is a folder, not a file.", keys);
            if (!File.Exists(file)) throw new TrainOptionException($"{{0}} {shown}: file not found.", keys);
        }
        return options;
    }

    // A switch that is on, or any other option that is set.
    private static bool IsOn(TrainOption option, TrainOptions options) => option.Get(options) is not (null or false);

    // Set to something: blank text counts as not given.
    private static bool IsGiven(TrainOption option, TrainOptions options) => IsOn(option, options) && option.Get(options) is not string { Length: 0 };

    private static string Canonical(string name) => name.Trim().ToLowerInvariant().Replace('-', '_');

    /// <summary>The declared range in words ("at least 1", "a positive multiple of 8"), or null when there is none.</summary>
    private string? Range()
    {
        var (min, below, multiple) = (declared.Min, declared.Below, declared.MultipleOf);
        if (multiple > 0 && min == multiple && !declared.Positive && double.IsNaN(below)) return $"a positive multiple of {multiple}";
        if (min == 0 && !double.IsNaN(below) && !declared.Positive && multiple == 0) return $"in [0, {Format(below)})";
        var parts = new List<string>();
        if (declared.Positive) parts.Add("positive");
        if (min == 0) parts.Add("0 or more");
        else if (!double.IsNaN(min)) parts.Add($"at least {Format(min)}");
        if (!double.IsNaN(below)) parts.Add($"below {Format(below)}");
        if (multiple > 0) parts.Add($"a multiple of {multiple}");
        return parts.Count == 0 ? null : string.Join(" and ", parts);
    }
}
