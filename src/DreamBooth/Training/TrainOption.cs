namespace DreamBooth.Training;

using System.Globalization;
using System.Reflection;
using System.Text.Json;
using DreamBooth.Torch;

/// <summary>
/// One training option as <see cref="TrainOptions"/> declares it (a property with a <see cref="TrainOptionAttribute"/>):
/// what config files, the command line and help need to reach it, without restating any of it.
/// </summary>
public sealed partial class TrainOption
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private static readonly TrainOptions Defaults = new();
    private readonly PropertyInfo property;
    private readonly TrainOptionAttribute declared;
    private readonly bool nullable;

    private TrainOption(PropertyInfo property, TrainOptionAttribute declared)
    {
        this.property = property;
        this.declared = declared;
        nullable = new NullabilityInfoContext().Create(property).WriteState == NullabilityState.Nullable;
        Choices = declared.Choices?.Split('|')
                  ?? (BaseType.IsEnum ? Enum.GetNames(BaseType).Select(n => n.ToLowerInvariant()).ToArray() : []);
        Aliases = declared.Aliases?.Split('|') ?? [];
    }

    /// <summary>Every option, in declaration order.</summary>
    public static IReadOnlyList<TrainOption> All { get; } = typeof(TrainOptions).GetProperties()
        .OrderBy(p => p.MetadataToken)
        .Select(p => (Property: p, Declared: p.GetCustomAttribute<TrainOptionAttribute>()))
        .Where(p => p.Declared is not null)
        .Select(p => new TrainOption(p.Property, p.Declared!))
        .ToArray();

    private static readonly Dictionary<string, TrainOption> ByKey = All.ToDictionary(o => o.Key, StringComparer.Ordinal);

    /// <summary>The option with this config key (snake_case or kebab-case), or null.</summary>
    public static TrainOption? Find(string key) => ByKey.GetValueOrDefault(key.Replace('-', '_'));

    /// <summary>Config-file key, diffusers' flag name: <c>instance_data_dir</c>.</summary>
    public string Key => declared.Key;

    /// <summary>Command-line flag: <c>--instance-data-dir</c>.</summary>
    public string Flag => "--" + Key.Replace('_', '-');

    /// <summary>More flags, e.g. <c>-m</c> and <c>--model</c>.</summary>
    public IReadOnlyList<string> Aliases { get; }

    /// <summary>The <see cref="TrainOptions"/> property.</summary>
    public string PropertyName => property.Name;

    /// <summary>The property's type, e.g. <c>int?</c> or <c>IReadOnlyList&lt;string&gt;</c>.</summary>
    public Type ValueType => property.PropertyType;

    /// <summary><see cref="ValueType"/> without <see cref="Nullable{T}"/>.</summary>
    public Type BaseType => Nullable.GetUnderlyingType(ValueType) ?? ValueType;

    /// <summary>A bool: a bare flag turns it on.</summary>
    public bool IsSwitch => ValueType == typeof(bool);

    /// <summary>Placeholder of the value in help (<c>N</c>, <c>DIR</c>); null for a switch.</summary>
    public string? ValueName => declared.Value;

    /// <summary>Help text as declared, without choices or default.</summary>
    public string Description => declared.Description;

    /// <summary>The accepted values of a text or enum option; empty when any value goes.</summary>
    public IReadOnlyList<string> Choices { get; }

    /// <summary>The value of a <c>new TrainOptions()</c>.</summary>
    public object? Default => Get(Defaults);

    /// <summary>Help: choices, description and the default, e.g. "Class images wanted (default 100)".</summary>
    public string HelpText
    {
        get
        {
            var text = Choices.Count == 0 ? Description : JoinOr(Choices) + (Description.Length > 0 ? ": " + Description : "");
            if (declared.DefaultText is { } described) return $"{text} (default: {described})";
            if (declared.MethodDefault is { } effective && Default is null)
            {
                var compute = typeof(TrainOptions).GetProperty(effective)
                              ?? throw new InvalidOperationException($"{Key}: no property {effective}");
                var values = Enum.GetValues<TrainMethod>().Select(m => (Method: Format(m), Value: Format(compute.GetValue(Defaults with { Method = m })))).ToArray();
                return values.Select(v => v.Value).Distinct().Count() == 1
                    ? $"{text} (default {values[0].Value})"
                    : $"{text} (default {string.Join(", ", values.Select(v => $"{v.Value} for {v.Method}"))})";
            }
            return Default is null or false ? text : $"{text} (default {Format(Default)})";
        }
    }

    /// <summary>The option's value in <paramref name="options"/>.</summary>
    public object? Get(TrainOptions options) => property.GetValue(options);

    /// <summary>A copy of <paramref name="options"/> with this option set to <paramref name="value"/> (of <see cref="ValueType"/>).</summary>
    public TrainOptions With(TrainOptions options, object? value)
    {
        if (value is null ? ValueType.IsValueType && Nullable.GetUnderlyingType(ValueType) is null : !ValueType.IsInstanceOfType(value))
            throw new ArgumentException($"{Key} takes {ValueType.Name}, not {value?.GetType().Name ?? "null"}.", nameof(value));
        var copy = options with { };
        property.SetValue(copy, value);  // an init accessor, called on a copy nobody else has seen yet
        return copy;
    }

    /// <summary>
    /// The value that <paramref name="text"/> (a flag's argument) stands for: numbers in invariant culture, a seed as
    /// <see cref="Rng.ParseSeed"/> reads it, a method by name, a list comma-separated.
    /// </summary>
    public object Parse(string text)
    {
        var t = BaseType;
        if (t == typeof(string)) return text;
        if (t == typeof(ulong)) return Rng.ParseSeed(text);  // the only ulong option is the seed
        if (t == typeof(int) && int.TryParse(text, NumberStyles.Integer, Inv, out var i)) return i;
        if (t == typeof(double) && double.TryParse(text, NumberStyles.Float, Inv, out var d)) return d;
        if (t == typeof(bool) && bool.TryParse(text, out var b)) return b;
        if (t.IsEnum && Choices.FirstOrDefault(c => c.Equals(text.Trim(), StringComparison.OrdinalIgnoreCase)) is { } name)
            return Enum.Parse(t, name, ignoreCase: true);
        if (t == typeof(IReadOnlyList<string>)) return text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        throw new TrainOptionException($"{{0}} must be {Expected}, not '{TrainOptionException.Literal(text)}'.", Key);
    }

    /// <summary>What the option takes, in words: "a whole number", "lora or full"…</summary>
    public string Expected
    {
        get
        {
            var t = BaseType;
            if (t == typeof(int) || t == typeof(ulong)) return "a whole number";
            if (t == typeof(double)) return "a number";
            if (t == typeof(bool)) return "true or false";
            if (t.IsEnum) return JoinOr(Choices);
            if (t == typeof(string)) return "text";
            return "a list of names";
        }
    }

    /// <summary>The value of a config file's JSON <paramref name="json"/>, or false when it is of the wrong kind.</summary>
    internal bool TryRead(JsonElement json, out object? value)
    {
        value = null;
        var t = BaseType;
        if (json.ValueKind == JsonValueKind.Null) return nullable;
        switch (json.ValueKind)
        {
            case JsonValueKind.String when t == typeof(string):
                value = json.GetString();
                return true;
            case JsonValueKind.String when t.IsEnum && Choices.Contains(json.GetString()!, StringComparer.OrdinalIgnoreCase):
                value = Enum.Parse(t, json.GetString()!, ignoreCase: true);
                return true;
            case JsonValueKind.True or JsonValueKind.False when t == typeof(bool):
                value = json.GetBoolean();
                return true;
            case JsonValueKind.Number when t == typeof(int) && json.TryGetInt32(out var i):
                value = i;
                return true;
            case JsonValueKind.Number when t == typeof(ulong) && json.TryGetUInt64(out var u):
                value = u;
                return true;
            case JsonValueKind.Number when t == typeof(double) && json.TryGetDouble(out var d):
                value = d;
                return true;
            case JsonValueKind.Array when t == typeof(IReadOnlyList<string>) && json.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String):
                value = json.EnumerateArray().Select(e => e.GetString()!).ToArray();
                return true;
            default:
                return false;
        }
    }

    /// <summary>A value as help and messages write it: invariant numbers (1e-8, not 1E-08), lower-case names, lists comma-separated.</summary>
    public static string Format(object? value) => value switch
    {
        null => "",
        double d when d != 0 && double.IsFinite(d) && Math.Abs(d) < 1e-3 => d.ToString("0.###############e+0", Inv).Replace("e+", "e", StringComparison.Ordinal),
        double d => d.ToString("R", Inv),
        bool b => b ? "true" : "false",
        Enum e => e.ToString().ToLowerInvariant(),
        IEnumerable<string> list => string.Join(',', list),
        _ => Convert.ToString(value, Inv) ?? "",
    };

    private static string JoinOr(IReadOnlyList<string> names) =>
        names.Count == 1 ? names[0] : string.Join(", ", names.Take(names.Count - 1)) + " or " + names[^1];

    public override string ToString() => Key;
}
