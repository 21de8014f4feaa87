namespace DreamBooth.ToyWorld;

/// <summary>Progress of toy pretraining: <paramref name="Phase"/> is "vae", "unet" or a message; Step counts optimizer steps of that phase.</summary>
public sealed record ToyPretrainProgress(string Phase, int Step, int Steps, double Loss, double StepsPerSecond);
