namespace DreamBooth.Models;

using TorchSharp;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;
using static TorchSharp.torch.nn;

/// <summary>Layer factories that initialise what TorchSharp leaves uninitialised.</summary>
/// <remarks>Every model constructor takes an optional device and dtype and passes them down to the layers, so a model
/// can be built directly where its weights will live: torch.META (shapes only, no memory) or e.g. CUDA in bf16.</remarks>
internal static class Layers
{
    /// <summary>GroupNorm with weight = 1, bias = 0 (TorchSharp's affine parameters may start as garbage).</summary>
    public static Modules.GroupNorm GroupNorm(long groups, long channels, double eps, Device? device = null, ScalarType? dtype = null)
    {
        var norm = nn.GroupNorm(groups, channels, eps, affine: true, device: device, dtype: dtype);
        using (no_grad())
        using (var one = 1.0.ToScalar())
        {
            norm.weight!.fill_(one);
            norm.bias!.zero_();
        }
        return norm;
    }

    public static Modules.LayerNorm LayerNorm(long dim, double eps, bool affine = true, Device? device = null, ScalarType? dtype = null) =>
        nn.LayerNorm(dim, eps, elementwise_affine: affine, device: device, dtype: dtype);
}
