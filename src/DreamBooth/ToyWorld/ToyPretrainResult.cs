namespace DreamBooth.ToyWorld;

/// <summary>
/// What toy pretraining produced: the diffusers folder, the final losses of both phases (means of the last 50 steps)
/// and the autoencoder's reconstruction MSE (pixels in [-1, 1]) of ordinary scenes and of the DreamBooth subject,
/// which DreamBooth can only learn if the VAE can encode it.
/// </summary>
public sealed record ToyPretrainResult(string OutputDir, double VaeLoss, double UnetLoss, double ScalingFactor, long ParameterCount, TimeSpan Elapsed,
                                       double SceneReconstructionError, double SubjectReconstructionError);
