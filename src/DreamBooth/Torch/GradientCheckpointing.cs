// Mirrors diffusers src/diffusers/models/modeling_utils.py::ModelMixin.enable_gradient_checkpointing (0.27.2): the
// switch is set on every submodule that has one, and each of them checkpoints its own resnets / transformer blocks.
namespace DreamBooth.Torch;

using static TorchSharp.torch;

/// <summary>A module that can recompute its sub-blocks in backward instead of keeping their activations
/// (diffusers' <c>gradient_checkpointing</c> attribute).</summary>
internal interface ICheckpointable
{
    bool GradientCheckpointing { get; set; }
}

internal static class BlockCheckpointing
{
    /// <summary>Sets the switch on every checkpointable module under <paramref name="root"/> (diffusers'
    /// <c>self.apply(partial(_set_gradient_checkpointing, value=...))</c>).</summary>
    public static void SetAll(nn.Module root, bool enabled)
    {
        if (root is ICheckpointable self) self.GradientCheckpointing = enabled;
        foreach (var (_, module) in root.named_modules())
            if (module is ICheckpointable c) c.GradientCheckpointing = enabled;
    }

    /// <summary>diffusers' <c>self.training and self.gradient_checkpointing</c>; without grad there is no graph whose
    /// activations could be dropped, so the plain path runs (Checkpoint.Run would do the same).</summary>
    public static bool Active(nn.Module module, bool enabled) => enabled && module.training && is_grad_enabled();

    /// <summary>block(hidden, extra) — a resnet with its time embedding, a transformer block with its context, a CLIP
    /// layer with its mask — checkpointed when <paramref name="checkpoint"/> is set.</summary>
    public static Tensor Call<TExtra>(nn.Module<Tensor, TExtra, Tensor> block, Tensor hiddenStates, TExtra extra, bool checkpoint)
        where TExtra : Tensor? =>
        checkpoint ? Checkpoint.Run(xs => block.call(xs[0]!, (TExtra)xs[1]!), [hiddenStates, extra]) : block.call(hiddenStates, extra);
}
