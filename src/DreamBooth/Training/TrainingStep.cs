// Mirrors the loss of diffusers examples/dreambooth/train_dreambooth.py (v0.27.2), with --with_prior_preservation.
namespace DreamBooth.Training;

using DreamBooth.Torch;
using DreamBooth.Models.Unets;
using DreamBooth.Schedulers;
using static TorchSharp.torch;

/// <summary>The DreamBooth loss terms of one micro-batch.</summary>
public sealed record StepLoss(Tensor Loss, Tensor InstanceLoss, Tensor? PriorLoss, Tensor ModelPred) : IDisposable
{
    public void Dispose()
    {
        Loss.Dispose();
        InstanceLoss.Dispose();
        PriorLoss?.Dispose();
        ModelPred.Dispose();
    }
}

/// <summary>The DreamBooth loss of one micro-batch (noise, UNet prediction, MSE with optional prior preservation).</summary>
public static class TrainingStep
{
    /// <summary>
    /// noisy = add_noise(latents, noise, t); pred = unet(noisy, t, context); target = noise (epsilon) or
    /// get_velocity (v_prediction); with prior preservation the batch is [instance…, class…] and
    /// loss = mse(pred_inst, tgt_inst) + w · mse(pred_class, tgt_class) (means over all elements).
    /// </summary>
    /// <param name="inputNoise">Input perturbation: the noise that makes the noisy latents (default <paramref name="noise"/>); the target stays <paramref name="noise"/>.</param>
    /// <param name="snrGamma">Min-SNR weighting of the instance loss (diffusers' --snr_gamma); null for the plain mean.</param>
    public static StepLoss Compute(UNet2DConditionModel unet, ITrainingNoiseScheduler noiseScheduler, Tensor latents, Tensor noise,
                                   Tensor timesteps, Tensor context, (Tensor TextEmbeds, Tensor TimeIds)? added,
                                   bool withPriorPreservation, double priorLossWeight, Tensor? inputNoise = null, double? snrGamma = null)
    {
        using var scope = NewDisposeScope();
        var noisy = noiseScheduler.AddNoise(latents, inputNoise ?? noise, timesteps);
        var pred = unet.forward(noisy, timesteps, context, added);
        var target = Target(noiseScheduler, latents, noise, timesteps);
        Tensor InstanceLoss(Tensor p, Tensor t, Tensor steps) => snrGamma is double gamma
            ? MinSnrLoss(noiseScheduler, p.to(ScalarType.Float32), t.to(ScalarType.Float32), steps, gamma)
            : nn.functional.mse_loss(p.to(ScalarType.Float32), t.to(ScalarType.Float32));
        if (!withPriorPreservation)
        {
            var mse = InstanceLoss(pred, target, timesteps);
            return new StepLoss(mse.MoveToOuterDisposeScope(), mse.detach().MoveToOuterDisposeScope(), null, pred.MoveToOuterDisposeScope());
        }
        var preds = pred.chunk(2);
        var targets = target.chunk(2);
        var instance = InstanceLoss(preds[0], targets[0], timesteps.chunk(2)[0]);
        var prior = nn.functional.mse_loss(preds[1].to(ScalarType.Float32), targets[1].to(ScalarType.Float32));
        var loss = Ops.Add(instance, Ops.Mul(prior, priorLossWeight));
        return new StepLoss(loss.MoveToOuterDisposeScope(), instance.detach().MoveToOuterDisposeScope(),
                            prior.detach().MoveToOuterDisposeScope(), pred.MoveToOuterDisposeScope());
    }

    /// <summary>Offset noise (diffusers' --noise_offset): noise + offset · N(0, 1) drawn per image and channel from torch's global generator.</summary>
    public static Tensor OffsetNoise(Tensor noise, double offset) =>
        Ops.Add(noise, Ops.Mul(randn([noise.shape[0], noise.shape[1], 1, 1], noise.dtype).to(noise.device), offset));

    /// <summary>diffusers' training_utils.compute_snr: SNR(t) = ᾱ_t / (1 − ᾱ_t), as (√ᾱ / √(1 − ᾱ))² in float32.</summary>
    public static Tensor Snr(ITrainingNoiseScheduler noiseScheduler, Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        var alphasCumprod = noiseScheduler.AlphasCumprod.to(timesteps.device);
        var alpha = alphasCumprod.sqrt()[timesteps.to(ScalarType.Int64)];
        var sigma = Ops.Sub(1.0, alphasCumprod).sqrt()[timesteps.to(ScalarType.Int64)];
        return Ops.Pow(alpha / sigma, 2).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Min-SNR-γ (Hang et al. 2023), as diffusers' scripts: each sample's mean squared error × min(SNR, γ) / SNR, plus 1
    /// for v-prediction (whose objective is floored to an SNR weight of one), then the mean over the batch.
    /// </summary>
    public static Tensor MinSnrLoss(ITrainingNoiseScheduler noiseScheduler, Tensor pred, Tensor target, Tensor timesteps, double gamma)
    {
        using var scope = NewDisposeScope();
        var snr = Snr(noiseScheduler, timesteps);
        var weights = Ops.ClampMax(snr, gamma) / snr;
        if (noiseScheduler.Config.PredictionType == "v_prediction") weights = Ops.Add(weights, 1);
        var perSample = nn.functional.mse_loss(pred, target, nn.Reduction.None).mean(Enumerable.Range(1, (int)pred.dim() - 1).Select(d => (long)d).ToArray());
        return (perSample * weights).mean().MoveToOuterDisposeScope();
    }

    /// <summary>The regression target for the scheduler's prediction type.</summary>
    public static Tensor Target(ITrainingNoiseScheduler noiseScheduler, Tensor latents, Tensor noise, Tensor timesteps) =>
        noiseScheduler.Config.PredictionType switch
        {
            null or "epsilon" => noise.alias(),
            "v_prediction" => noiseScheduler.GetVelocity(latents, noise, timesteps),
            var other => throw new DreamBoothException($"Training with prediction_type '{other}' is not supported (epsilon or v_prediction)."),
        };
}
