namespace DreamBooth.ToyWorld;

/// <summary>A training pair of the toy CLIP: a scene and its caption, full or without the object's colours and/or the background.</summary>
internal sealed record ToyClipPair(ToyScene Scene, bool Colours, bool Background)
{
    public string Caption => Scene.Describe(Colours, Background);

    /// <summary>Whether this pair's caption is true of <paramref name="other"/> too (then it is one of that image's positives).</summary>
    public bool IsTrueOf(ToyScene other) =>
        other.Shape == Scene.Shape &&
        (!Colours || (other.ObjectColor == Scene.ObjectColor && other.CheckerColor == Scene.CheckerColor)) &&
        (!Background || other.Background == Scene.Background);
}
