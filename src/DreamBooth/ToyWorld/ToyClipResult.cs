namespace DreamBooth.ToyWorld;

/// <summary>What toy CLIP training produced: the CLIPModel folder, the final loss (mean of the last 50 steps) and the probe's scores of the saved model.</summary>
public sealed record ToyClipResult(string OutputDir, double Loss, long ParameterCount, TimeSpan Elapsed, ToyClipScores Scores);
