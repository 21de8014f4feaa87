namespace DreamBooth.Models;

using static TorchSharp.torch;
using Modules = TorchSharp.Modules;
using static TorchSharp.torch.nn;

/// <summary>Layer factories that initialise what TorchSharp leaves uninitialised.</summary>
internal static class Layers
{
    /// <summary>GroupNorm with weight = 1, bias = 0 (TorchSharp's affine parameters may start as garbage).</summary>
    public static Modules.GroupNorm GroupNorm(long groups, long channels, double eps)
    {
        var norm = nn.GroupNorm(groups, channels, eps, affine: true);
        using (no_grad())
        {
            norm.weight!.fill_(1.0);
            norm.bias!.zero_();
        }
        return norm;
    }

    public static Modules.LayerNorm LayerNorm(long dim, double eps, bool affine = true) =>
        nn.LayerNorm(dim, eps, elementwise_affine: affine);
}
