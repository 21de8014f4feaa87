// Mirrors diffusers src/diffusers/utils/torch_utils.py::randn_tensor, and torch.Generator.manual_seed's seed rules.
namespace DreamBooth.Torch;

using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Seeds and random tensors that reproduce PyTorch's CPU generator: TorchSharp's <c>new torch.Generator(seed)</c> is
/// libtorch's mt19937 CPU generator, and <c>torch.randn(shape, generator: g)</c> follows the same sampling paths as
/// PyTorch (scalar Box-Muller below 16 elements, the vectorised one from 16), so <c>--seed 42</c> equals diffusers'
/// <c>torch.Generator("cpu").manual_seed(42)</c> bit for bit (checked by RngParityTests against PyTorch 1.13 draws).
/// </summary>
public static class Rng
{
    /// <summary>A CPU generator: diffusers pipelines draw on the CPU so results do not depend on the device.</summary>
    public static Generator CpuGenerator(ulong seed)
    {
        TorchRuntime.EnsureLoaded();
        return new Generator(seed, CPU);
    }

    /// <summary>The seed when none is given (generation, training): 0 .. 2^32 − 1, so it fits every tool's seed field (A1111's too).</summary>
    public static ulong RandomSeed() => (ulong)Random.Shared.NextInt64(0, 1L << 32);

    /// <summary>
    /// Parses a seed as PyTorch's <c>manual_seed</c> accepts it: 0 .. 2^64-1, or a negative int64 taken as its
    /// two's-complement uint64 (manual_seed(-1) == manual_seed(2^64-1)).
    /// </summary>
    public static ulong ParseSeed(string text)
    {
        var s = text.Trim();
        if (ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var seed)) return seed;
        if (long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var signed)) return unchecked((ulong)signed);
        throw new DreamBoothException($"Invalid seed '{text}': use an integer from -2^63 to 2^64-1.");
    }

    /// <summary>
    /// <c>randn_tensor(shape, generator, device, dtype)</c>: a CPU generator draws on the CPU and the result moves to
    /// <paramref name="device"/>; a device generator draws on its device; no generator uses the global one.
    /// </summary>
    public static Tensor RandnTensor(long[] shape, Generator? generator, Device? device = null, ScalarType dtype = ScalarType.Float32)
    {
        device ??= CPU;
        if (generator is null) return randn(shape, dtype, device);
        var genDevice = generator.device;
        if (genDevice.type == device.type) return randn(shape, dtype, device, generator: generator);
        if (genDevice.type != DeviceType.CPU)
            throw new DreamBoothException($"Cannot draw a {device.type} tensor with a {genDevice.type} generator.");
        using var drawn = randn(shape, dtype, CPU, generator: generator);
        return drawn.to(device);
    }
}
