namespace DreamBooth.ToyWorld;

/// <summary>A named colour of the toy world; <see cref="Name"/> is the word captions use.</summary>
public sealed record ToyColor(string Name, byte R, byte G, byte B)
{
    /// <summary>Euclidean distance in RGB (0 … ~441).</summary>
    public double DistanceTo(byte r, byte g, byte b)
    {
        double dr = R - r, dg = G - g, db = B - b;
        return Math.Sqrt(dr * dr + dg * dg + db * db);
    }

    public double DistanceTo(ToyColor other) => DistanceTo(other.R, other.G, other.B);

    public override string ToString() => Name;
}
