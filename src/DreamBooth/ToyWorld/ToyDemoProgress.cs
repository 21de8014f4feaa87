namespace DreamBooth.ToyWorld;

/// <summary>Progress of the demo: <paramref name="Stage"/> names the part running ("classifier", "lora", …), Step counts within it.</summary>
public sealed record ToyDemoProgress(string Stage, string Message, int Step, int Steps);
