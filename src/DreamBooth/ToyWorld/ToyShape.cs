namespace DreamBooth.ToyWorld;

/// <summary>The object classes of the toy world; the lower-case name is the caption's noun.</summary>
public enum ToyShape
{
    Ball,
    Box,
    Cup,
    Star,
}
