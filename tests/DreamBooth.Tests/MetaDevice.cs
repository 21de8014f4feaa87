namespace DreamBooth.Tests;

using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Builds modules on PyTorch's meta device: parameters get shapes and dtypes but no storage, so full-size models
/// (SD 1.5 UNet: 860 M parameters) can be checked against the manifests in milliseconds and without memory.
/// </summary>
/// <remarks>
/// TorchSharp 0.107 has no per-constructor device for our modules, but <c>torch.set_default_device(torch.META)</c>
/// works: every factory (Conv2d, Linear, GroupNorm, torch.empty, the in-place inits) then creates meta tensors.
/// That default is PROCESS-WIDE (a tensor created on another thread meanwhile lands on meta too), so tests using it
/// must sit in <see cref="MetaDeviceCollection"/>, which xunit runs alone, after the parallel collections.
/// Meta modules are for inspection only: TorchSharp has no to_empty(), and module.to(CPU) on a meta-built module
/// returns without error but leaves every parameter on meta.
/// </remarks>
internal static class MetaDevice
{
    public static T Build<T>(Func<T> build)
    {
        var previous = get_default_device();
        set_default_device(META);
        try
        {
            return build();
        }
        finally
        {
            set_default_device(previous);
        }
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MetaDeviceCollection
{
    public const string Name = "meta device (switches the process-wide default device)";
}
