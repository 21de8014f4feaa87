namespace DreamBooth.ToyWorld;

using DreamBooth.Imaging;

/// <summary>One rendered toy image with its caption and the factors it was drawn from.</summary>
public sealed record ToySample(RgbImage Image, string Caption, ToyScene Scene);
