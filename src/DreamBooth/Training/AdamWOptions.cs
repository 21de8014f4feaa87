namespace DreamBooth.Training;

/// <summary>AdamW hyper-parameters; the defaults are those of diffusers' train_dreambooth.py
/// (--learning_rate 5e-6, --adam_beta1 0.9, --adam_beta2 0.999, --adam_weight_decay 1e-2, --adam_epsilon 1e-8).
/// Note torch.optim.AdamW's own weight-decay default is also 1e-2, but TorchSharp's is 0.</summary>
public sealed record AdamWOptions(
    double LearningRate = 5e-6,
    double Beta1 = 0.9,
    double Beta2 = 0.999,
    double WeightDecay = 1e-2,
    double Epsilon = 1e-8)
{
    /// <summary>Throws <see cref="DreamBoothException"/> for values torch.optim.AdamW rejects.</summary>
    public AdamWOptions Validated()
    {
        if (!(LearningRate >= 0)) throw new DreamBoothException($"Invalid learning rate {LearningRate}: it must be 0 or more.");
        if (!(Epsilon >= 0)) throw new DreamBoothException($"Invalid Adam epsilon {Epsilon}: it must be 0 or more.");
        if (!(Beta1 >= 0 && Beta1 < 1)) throw new DreamBoothException($"Invalid Adam beta1 {Beta1}: it must be in [0, 1).");
        if (!(Beta2 >= 0 && Beta2 < 1)) throw new DreamBoothException($"Invalid Adam beta2 {Beta2}: it must be in [0, 1).");
        if (!(WeightDecay >= 0)) throw new DreamBoothException($"Invalid weight decay {WeightDecay}: it must be 0 or more.");
        return this;
    }
}
