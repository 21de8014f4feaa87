namespace DreamBooth.Training;

using System.Globalization;

/// <summary>
/// An invalid training option. <see cref="Exception.Message"/> names the options by key (<c>instance_data_dir</c>);
/// <see cref="Describe"/> names them another way, e.g. as the command line's <c>--instance-data-dir</c>.
/// </summary>
public sealed class TrainOptionException : DreamBoothException
{
    private readonly string template;

    /// <param name="template">A composite format string whose items {0}, {1}… are the options in <paramref name="keys"/>;
    /// other text in it that holds braces must be doubled (see <see cref="Literal"/>).</param>
    /// <param name="keys">Option keys, e.g. <c>with_prior_preservation</c>.</param>
    public TrainOptionException(string template, params string[] keys) : base(Fill(template, keys, k => k))
    {
        this.template = template;
        Keys = keys;
    }

    /// <summary>The options the message is about, by key.</summary>
    public IReadOnlyList<string> Keys { get; }

    /// <summary>The message with each option key replaced by <paramref name="name"/>(key).</summary>
    public string Describe(Func<string, string> name) => Fill(template, Keys, name);

    /// <summary>A value as text that can go into a template: braces doubled, so a path like <c>a{1}</c> stays as is.</summary>
    public static string Literal(object? value) =>
        (Convert.ToString(value, CultureInfo.InvariantCulture) ?? "").Replace("{", "{{", StringComparison.Ordinal).Replace("}", "}}", StringComparison.Ordinal);

    private static string Fill(string template, IReadOnlyList<string> keys, Func<string, string> name) =>
        string.Format(CultureInfo.InvariantCulture, template, keys.Select(k => (object)name(k)).ToArray());
}
