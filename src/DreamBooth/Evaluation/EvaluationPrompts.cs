// Prompt sets for evaluating a personalised model: the DreamBooth dataset's templates (google/dreambooth, prompts_and_classes.txt)
// and four style/pose prompts of the kind diffusers' DreamBooth tutorial suggests.
namespace DreamBooth.Evaluation;

/// <summary>Whether the subject is an object or a live subject (pet): the dataset's 25 templates differ in 10 places.</summary>
public enum SubjectKind
{
    Object,
    Live,
}

/// <summary>Evaluation prompts with <c>{0}</c> = identifier (e.g. sks) and <c>{1}</c> = class noun (e.g. dog).</summary>
public static class EvaluationPrompts
{
    /// <summary>Styles and poses: superhero, Van Gogh style, tuxedo, ancient Rome.</summary>
    public static readonly IReadOnlyList<string> Tutorial =
    [
        "a {0} {1} as a superhero",
        "a painting of a {0} {1} in the style of Van Gogh",
        "a {0} {1} wearing a tuxedo",
        "a {0} {1} in ancient Rome",
    ];

    private static readonly string[] Shared =
    [
        "a {0} {1} in the jungle", "a {0} {1} in the snow", "a {0} {1} on the beach", "a {0} {1} on a cobblestone street",
        "a {0} {1} on top of pink fabric", "a {0} {1} on top of a wooden floor", "a {0} {1} with a city in the background",
        "a {0} {1} with a mountain in the background", "a {0} {1} with a blue house in the background",
        "a {0} {1} on top of a purple rug in a forest",
    ];

    private static readonly string[] Recolour = ["a red {0} {1}", "a purple {0} {1}", "a shiny {0} {1}", "a wet {0} {1}", "a cube shaped {0} {1}"];

    /// <summary>The dataset's 25 object templates.</summary>
    public static readonly IReadOnlyList<string> Object =
    [
        .. Shared,
        "a {0} {1} with a wheat field in the background", "a {0} {1} with a tree and autumn leaves in the background",
        "a {0} {1} with the Eiffel Tower in the background", "a {0} {1} floating on top of water", "a {0} {1} floating in an ocean of milk",
        "a {0} {1} on top of green grass with sunflowers around it", "a {0} {1} on top of a mirror",
        "a {0} {1} on top of the sidewalk in a crowded street", "a {0} {1} on top of a dirt road", "a {0} {1} on top of a white rug",
        .. Recolour,
    ];

    /// <summary>The dataset's 25 live-subject templates.</summary>
    public static readonly IReadOnlyList<string> Live =
    [
        .. Shared,
        "a {0} {1} wearing a red hat", "a {0} {1} wearing a santa hat", "a {0} {1} wearing a rainbow scarf",
        "a {0} {1} wearing a black top hat and a monocle", "a {0} {1} in a chef outfit", "a {0} {1} in a firefighter outfit",
        "a {0} {1} in a police outfit", "a {0} {1} wearing pink glasses", "a {0} {1} wearing a yellow shirt",
        "a {0} {1} in a purple wizard outfit",
        .. Recolour,
    ];

    /// <summary>The default set: the four tutorial prompts, then the 25 templates for <paramref name="kind"/>.</summary>
    public static IReadOnlyList<string> Default(SubjectKind kind) => [.. Tutorial, .. kind == SubjectKind.Live ? Live : Object];

    /// <summary>Templates from a file, one per line; blank lines and lines starting with '#' are skipped.</summary>
    public static IReadOnlyList<string> Read(string file)
    {
        if (!File.Exists(file)) throw new DreamBoothException($"{file}: prompt file not found.");
        var lines = File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        return lines.Count > 0 ? lines : throw new DreamBoothException($"{file}: no prompts in the file.");
    }

    /// <summary>Fills a template; a template without <c>{0}</c>/<c>{1}</c> is used as written.</summary>
    public static string Format(string template, string identifier, string classNoun) =>
        template.Replace("{0}", identifier, StringComparison.Ordinal).Replace("{1}", classNoun, StringComparison.Ordinal);

    /// <summary>
    /// The class-only prompt: the template without the identifier ("a dog in the jungle"), rendered for PRES and
    /// used as CLIP-T's text (the identifier is a rare token that means nothing to CLIP).
    /// </summary>
    /// <remarks>The identifier is dropped wherever it stands as a word, so prompts written out ("a sks dog") work too.</remarks>
    public static string ClassPrompt(string template, string identifier, string classNoun) =>
        string.Join(' ', Format(template, identifier, classNoun).Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Where(word => !string.Equals(word, identifier, StringComparison.Ordinal)));
}
