namespace DreamBooth.ToyWorld;

/// <summary>What <see cref="ToyClassifier"/> tells apart: the four ordinary shapes and the DreamBooth subject.</summary>
public enum ToyLabel
{
    Ball,
    Box,
    Cup,
    Star,
    Subject,
}
