namespace DreamBooth.ToyWorld;

using DreamBooth.Imaging;
using DreamBooth.Models.Autoencoders;
using DreamBooth.Training;
using static TorchSharp.torch;

/// <summary>
/// The first pretraining phase: the VAE learns to reconstruct toy images (MSE on pixels plus a small KL term that
/// keeps the posterior a proper Gaussian), then its latent scale is measured as SD's scaling_factor is: 1 / std.
/// </summary>
internal static class ToyAutoencoderTraining
{
    /// <summary>Trains <paramref name="vae"/> in place; returns the mean loss of the last 50 steps.</summary>
    public static double Train(AutoencoderKL vae, ToyBatches batches, ToyPretrainOptions o, Generator generator, TrainingLog log,
                               IProgress<ToyPretrainProgress>? progress, CancellationToken cancel)
    {
        vae.train();
        var adam = new AdamWOptions(o.VaeLearningRate, WeightDecay: 0).Validated();
        using var optimizer = new AdamW(vae.named_parameters().Select(p => (p.name, p.parameter)), adam);
        var schedule = new LrSchedule("cosine", o.WarmupSteps, o.VaeSteps, learningRate: o.VaeLearningRate);
        Tensor Loss(int step)
        {
            var pixels = batches.NextForAutoencoder(o.BatchSize);
            using var posterior = vae.Encode(pixels);
            var reconstruction = vae.Decode(posterior.Sample(generator));
            var kl = 0.5 * (posterior.Mean.square() + posterior.Var - 1 - posterior.LogVar).mean();
            return nn.functional.mse_loss(reconstruction, pixels) + o.KlWeight * kl;
        }
        double loss = ToyTrainingLoop.Run("vae", o.VaeSteps, [.. vae.parameters()], optimizer, schedule, Loss, log, progress, cancel);
        vae.eval();
        return loss;
    }

    /// <summary>Mean squared error (pixels in [-1, 1]) of decoding the posterior mean of <paramref name="images"/>, and the decoded images.</summary>
    public static (double Error, IReadOnlyList<RgbImage> Decoded) Reconstruction(AutoencoderKL vae, IReadOnlyList<RgbImage> images)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var pixels = stack([.. images.Select(i => i.ToTensor(normalize: true))]);
        using var posterior = vae.Encode(pixels);
        var decoded = vae.Decode(posterior.Mean);
        var rebuilt = Enumerable.Range(0, images.Count).Select(i => RgbImage.FromTensor(decoded[i] / 2 + 0.5)).ToList();
        return (nn.functional.mse_loss(decoded, pixels).item<float>(), rebuilt);
    }

    /// <summary>1 / std of posterior samples over <paramref name="count"/> fresh images (SD measured its 0.18215 this way).</summary>
    public static double MeasureScalingFactor(AutoencoderKL vae, ToyBatches batches, Generator generator, int count = 256)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var (pixels, _) = batches.Next(count);      // the scale of the latents the UNet will see: ordinary scenes
        using var posterior = vae.Encode(pixels);
        var std = posterior.Sample(generator).std().item<float>();
        return Math.Round(1.0 / std, 5);
    }
}
