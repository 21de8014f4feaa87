namespace DreamBooth.ToyWorld;

/// <summary>The roles a demo prompt plays in the metrics.</summary>
public enum ToyPromptKind
{
    /// <summary>Names the subject in a held-out context ("a photo of sks box on a blue background").</summary>
    Identifier,

    /// <summary>The prior-preservation class prompt ("a photo of a box").</summary>
    Class,

    /// <summary>Another class that the subject should leave alone ("a photo of a ball on …").</summary>
    Unrelated,
}

/// <summary>One prompt of the demo's grids; <paramref name="Background"/> is the context it asks for, if any.</summary>
public sealed record ToyDemoPrompt(string Text, ToyPromptKind Kind, ToyColor? Background);
