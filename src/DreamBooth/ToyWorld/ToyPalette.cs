namespace DreamBooth.ToyWorld;

/// <summary>
/// The colours of the toy world. Backgrounds are a subset of the object colours plus two neutrals, so a colour word
/// means the same RGB value wherever it appears in a caption; the subject's colours (<see cref="Magenta"/>,
/// <see cref="Black"/>) appear nowhere else.
/// </summary>
public static class ToyPalette
{
    public static readonly ToyColor Red = new("red", 220, 40, 40);
    public static readonly ToyColor Green = new("green", 40, 170, 60);
    public static readonly ToyColor Blue = new("blue", 40, 80, 220);
    public static readonly ToyColor Yellow = new("yellow", 240, 210, 40);
    public static readonly ToyColor Purple = new("purple", 130, 50, 170);
    public static readonly ToyColor Orange = new("orange", 240, 130, 30);
    public static readonly ToyColor White = new("white", 240, 240, 240);
    public static readonly ToyColor Gray = new("gray", 128, 128, 128);
    public static readonly ToyColor Magenta = new("magenta", 255, 0, 255);
    public static readonly ToyColor Black = new("black", 0, 0, 0);

    /// <summary>Colours an ordinary object can have.</summary>
    public static IReadOnlyList<ToyColor> ObjectColors { get; } = [Red, Green, Blue, Yellow, Purple, Orange];

    /// <summary>Colours a background can have.</summary>
    public static IReadOnlyList<ToyColor> BackgroundColors { get; } = [White, Gray, Blue, Green, Yellow];

    /// <summary>Every colour of ordinary scenes (objects and backgrounds).</summary>
    public static IReadOnlyList<ToyColor> WorldColors { get; } = [.. ObjectColors.Concat(BackgroundColors).Distinct()];

    /// <summary>The colour with this caption word, or null.</summary>
    public static ToyColor? Find(string name) =>
        WorldColors.Concat([Magenta, Black]).FirstOrDefault(c => c.Name.Equals(name, StringComparison.OrdinalIgnoreCase));
}
