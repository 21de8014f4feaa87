namespace DreamBooth.ToyWorld;

/// <summary>
/// The known factors of one toy image: one object on a plain background. <see cref="Size"/> is the object's extent
/// and <see cref="CenterX"/>/<see cref="CenterY"/> its centre, all as fractions of the image side, so one scene
/// renders alike at 32×32 and 64×64. A non-null <see cref="CheckerColor"/> paints the object as a 4×4 checkerboard
/// of <see cref="ObjectColor"/> and that colour (the DreamBooth subject's pattern).
/// </summary>
public sealed record ToyScene(ToyShape Shape, ToyColor ObjectColor, ToyColor Background, double Size, double CenterX, double CenterY,
                              ToyColor? CheckerColor = null)
{
    /// <summary>The class noun of <see cref="Shape"/> ("ball", "box", "cup", "star").</summary>
    public string Noun => Shape.ToString().ToLowerInvariant();

    /// <summary>"a photo of a red cup on a blue background" (a checkered object: "a magenta and black checkered box …").</summary>
    public string Caption => Describe(colours: true, background: true);

    /// <summary>
    /// The caption, leaving out the object's colour words and/or the background when asked: "a photo of a cup on a
    /// blue background", "a photo of a red cup", "a photo of a cup". Each is still true of the scene.
    /// </summary>
    public string Describe(bool colours, bool background)
    {
        var colour = !colours ? "" : CheckerColor is { } second ? $"{ObjectColor.Name} and {second.Name} checkered " : $"{ObjectColor.Name} ";
        return $"a photo of a {colour}{Noun}" + (background ? $" on a {Background.Name} background" : "");
    }

    /// <summary>The caption with <paramref name="identifier"/> before the class noun and no colour words, as DreamBooth prompts name a subject.</summary>
    public string SubjectCaption(string identifier) => $"a photo of {identifier} {Noun} on a {Background.Name} background";

    /// <summary>Parses a caption of the form <see cref="Caption"/> writes for a plain object; null if it is not one.</summary>
    public static (ToyShape Shape, ToyColor Object, ToyColor Background)? ParseCaption(string caption)
    {
        var words = caption.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // a photo of a <colour> <noun> on a <colour> background
        if (words.Length != 10 || words[0] != "a" || words[1] != "photo" || words[2] != "of" || words[3] != "a" ||
            words[6] != "on" || words[7] != "a" || words[9] != "background")
            return null;
        var obj = ToyPalette.Find(words[4]);
        var background = ToyPalette.Find(words[8]);
        if (obj is null || background is null || !Enum.TryParse<ToyShape>(words[5], ignoreCase: true, out var shape)) return null;
        return (shape, obj, background);
    }
}
