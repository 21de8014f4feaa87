// Mirrors diffusers src/diffusers/models/modeling_utils.py::ModelMixin.enable_gradient_checkpointing (0.27.2): the
// switch is set on every submodule that has one, and each of them checkpoints its own resnets / transformer blocks.
namespace DreamBooth.Models;

using DreamBooth.Training;
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

    /// <summary>resnet(h, temb), checkpointed when <paramref name="checkpoint"/> is set.</summary>
    public static Tensor Resnet(ResnetBlock2D resnet, Tensor hiddenStates, Tensor? temb, bool checkpoint) =>
        checkpoint ? Checkpoint.Run(xs => resnet.call(xs[0]!, xs[1]), [hiddenStates, temb]) : resnet.call(hiddenStates, temb);
}
