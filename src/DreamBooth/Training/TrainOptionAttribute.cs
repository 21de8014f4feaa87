namespace DreamBooth.Training;

/// <summary>
/// Declares a <see cref="TrainOptions"/> property as a training option, in one place: its key, how help describes it
/// and what <see cref="TrainOptions.Validated"/> checks. The default is the property's initial value, so help text
/// and behaviour cannot disagree. <see cref="TrainOption"/> reads these declarations for config files and front ends.
/// </summary>
/// <param name="key">diffusers' flag name in snake_case, e.g. <c>instance_data_dir</c>; the flag is its kebab-case form.</param>
/// <param name="description">Help text, without the default (added from the initial value) or a final period.</param>
[AttributeUsage(AttributeTargets.Property)]
public sealed class TrainOptionAttribute(string key, string description) : Attribute
{
    /// <summary>Config-file key, snake_case.</summary>
    public string Key { get; } = key;

    /// <summary>Help text without the default.</summary>
    public string Description { get; } = description;

    /// <summary>Placeholder of the value in help, e.g. <c>N</c>; leave out for a switch (a bool a bare flag turns on).</summary>
    public string? Value { get; set; }

    /// <summary>More flags for the option, '|'-separated, e.g. <c>-m|--model</c>.</summary>
    public string? Aliases { get; set; }

    /// <summary>How help states a default that is not a plain value, e.g. "the model's native size".</summary>
    public string? DefaultText { get; set; }

    /// <summary>For an option whose null means "the method's default": the property that computes the value used,
    /// e.g. <c>EffectiveLearningRate</c>; help then shows its value for each <see cref="TrainMethod"/>.</summary>
    public string? MethodDefault { get; set; }

    /// <summary>The accepted values, '|'-separated; matched ignoring case and '-' for '_'.</summary>
    public string? Choices { get; set; }

    /// <summary>The value must be set (text not blank, a list not empty).</summary>
    public bool Required { get; set; }

    /// <summary>An example value, quoted in the message when a required value is missing.</summary>
    public string? Example { get; set; }

    /// <summary>Smallest accepted number (NaN: none).</summary>
    public double Min { get; set; } = double.NaN;

    /// <summary>The number must be above 0.</summary>
    public bool Positive { get; set; }

    /// <summary>The number must be below this (NaN: no bound).</summary>
    public double Below { get; set; } = double.NaN;

    /// <summary>The number must be a multiple of this (0: any).</summary>
    public int MultipleOf { get; set; }

    /// <summary>The value names a folder: a file there is an error.</summary>
    public bool Folder { get; set; }

    /// <summary>With <see cref="Folder"/>: the folder must exist.</summary>
    public bool MustExist { get; set; }

    /// <summary>The value names a file that must exist.</summary>
    public bool ExistingFile { get; set; }

    /// <summary>Key of the option that turns these checks on (a switch that is on, or a value that is set).</summary>
    public string? When { get; set; }

    /// <summary>Key of an option that replaces this one: when that one is set, this one must not be, and is not checked.</summary>
    public string? Unless { get; set; }
}
