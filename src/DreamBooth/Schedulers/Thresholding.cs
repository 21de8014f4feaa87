// Mirrors diffusers' _threshold_sample (DDPM, DDIM, DPMSolverMultistep): Imagen's dynamic thresholding of x_0.
namespace DreamBooth.Schedulers;

using TorchSharp;
using static TorchSharp.torch;

internal static class Thresholding
{
    /// <summary>
    /// Per sample, s = clamp(quantile(|x_0|, ratio), 1, sample_max_value); x_0 ← clamp(x_0, −s, s) / s
    /// (Saharia et al. 2022). With s clamped at 1 this is plain clipping to [−1, 1].
    /// </summary>
    public static Tensor ThresholdSample(Tensor sample, double ratio, double sampleMaxValue)
    {
        using var scope = NewDisposeScope();
        var dtype = sample.dtype;
        var shape = sample.shape;
        var x = dtype is ScalarType.Float32 or ScalarType.Float64 ? sample : sample.to(ScalarType.Float32);   // quantile needs fp32+
        x = x.reshape(shape[0], -1);                                                                         // [B, C*H*W]
        using var q = tensor(ratio, x.dtype, x.device);
        var s = x.abs().quantile(q, dim: 1).clamp(1, sampleMaxValue).unsqueeze(1);                           // [B, 1]
        x = x.clamp(-s, s) / s;
        return x.reshape(shape).to(dtype).MoveToOuterDisposeScope();
    }
}
