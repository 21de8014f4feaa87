// Mirrors the loss of diffusers examples/dreambooth/train_dreambooth.py (v0.27.2), with --with_prior_preservation.
namespace DreamBooth.Training;

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
    public static StepLoss Compute(UNet2DConditionModel unet, ITrainingNoiseScheduler noiseScheduler, Tensor latents, Tensor noise,
                                   Tensor timesteps, Tensor context, (Tensor TextEmbeds, Tensor TimeIds)? added,
                                   bool withPriorPreservation, double priorLossWeight)
    {
        using var scope = NewDisposeScope();
        var noisy = noiseScheduler.AddNoise(latents, noise, timesteps);
        var pred = unet.forward(noisy, timesteps, context, added);
        var target = Target(noiseScheduler, latents, noise, timesteps);
        if (!withPriorPreservation)
        {
            var mse = nn.functional.mse_loss(pred.to(ScalarType.Float32), target.to(ScalarType.Float32));
            return new StepLoss(mse.MoveToOuterDisposeScope(), mse.detach().MoveToOuterDisposeScope(), null, pred.MoveToOuterDisposeScope());
        }
        var preds = pred.chunk(2);
        var targets = target.chunk(2);
        var instance = nn.functional.mse_loss(preds[0].to(ScalarType.Float32), targets[0].to(ScalarType.Float32));
        var prior = nn.functional.mse_loss(preds[1].to(ScalarType.Float32), targets[1].to(ScalarType.Float32));
        var loss = instance + priorLossWeight * prior;
        return new StepLoss(loss.MoveToOuterDisposeScope(), instance.detach().MoveToOuterDisposeScope(),
                            prior.detach().MoveToOuterDisposeScope(), pred.MoveToOuterDisposeScope());
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
