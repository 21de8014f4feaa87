namespace DreamBooth.ToyWorld;

/// <summary>What toy pretraining produced: the diffusers folder and the final losses of both phases (means of the last 50 steps).</summary>
public sealed record ToyPretrainResult(string OutputDir, double VaeLoss, double UnetLoss, double ScalingFactor, long ParameterCount, TimeSpan Elapsed);
