// Model-wide LoRA operations (peft's set_adapter / diffusers' set_adapters, fuse_lora, unfuse_lora, delete_adapters).
namespace DreamBooth.Lora;

using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

/// <summary>Operations over every <see cref="LoraLayer"/> of a model (UNet or text encoder).</summary>
public static class LoraModel
{
    /// <summary>The LoRA layers of a model by module path, in model order.</summary>
    public static IReadOnlyList<(string Path, LoraLayer Layer)> Layers(nn.Module model) =>
        [.. model.named_modules().Where(m => m.module is LoraLayer).Select(m => (m.name, (LoraLayer)m.module))];

    /// <summary>Names of all adapters present on any layer, in first-seen order.</summary>
    public static IReadOnlyList<string> AdapterNames(nn.Module model) =>
        [.. Layers(model).SelectMany(l => l.Layer.Adapters).Distinct()];

    /// <summary>Sets an adapter's multiplier everywhere (several subjects compose by giving each its weight).</summary>
    public static void SetWeight(nn.Module model, string adapter, double weight) =>
        ForAdapter(model, adapter, l => l.SetWeight(adapter, weight));

    /// <summary>Enables or disables an adapter everywhere.</summary>
    public static void SetEnabled(nn.Module model, string adapter, bool enabled) =>
        ForAdapter(model, adapter, l => l.SetEnabled(adapter, enabled));

    /// <summary>Removes an adapter everywhere (layers keep their wrapper even when no adapter is left).</summary>
    public static void DeleteAdapter(nn.Module model, string adapter) => ForAdapter(model, adapter, l => l.DeleteAdapter(adapter));

    /// <summary>diffusers' <c>fuse_lora(lora_scale=scale)</c>: merges the enabled (or the named) adapters into the base weights.</summary>
    public static void Fuse(nn.Module model, double scale = 1.0, IReadOnlyList<string>? adapters = null)
    {
        foreach (var (_, layer) in Layers(model))
            layer.Fuse(scale, adapters?.Where(a => layer.Adapters.Contains(a)));
    }

    /// <summary>Undoes every <see cref="Fuse"/> (see <see cref="LoraLayer.Unfuse"/> for the precision).</summary>
    public static void Unfuse(nn.Module model)
    {
        foreach (var (_, layer) in Layers(model)) layer.Unfuse();
    }

    /// <summary><see cref="Fuse(nn.Module, double, IReadOnlyList{string}?)"/> on every model of a pipeline.</summary>
    public static void Fuse(LoraTargets models, double scale = 1.0, IReadOnlyList<string>? adapters = null)
    {
        foreach (var model in new[] { models.Unet, models.TextEncoder, models.TextEncoder2 }.OfType<nn.Module>()) Fuse(model, scale, adapters);
    }

    /// <summary><see cref="Unfuse(nn.Module)"/> on every model of a pipeline.</summary>
    public static void Unfuse(LoraTargets models)
    {
        foreach (var model in new[] { models.Unet, models.TextEncoder, models.TextEncoder2 }.OfType<nn.Module>()) Unfuse(model);
    }

    /// <summary>LoRA parameters (names contain lora_A / lora_B), optionally of one adapter, in named_parameters() order.</summary>
    public static IReadOnlyList<(string Name, Modules.Parameter Parameter)> AdapterParameters(nn.Module model, string? adapter = null) =>
        [.. model.named_parameters().Where(p => IsAdapterParameter(p.name, adapter)).Select(p => (p.name, p.parameter))];

    /// <summary>peft's mark_only_lora_as_trainable: LoRA parameters require grad, everything else does not.</summary>
    public static void FreezeAllButAdapters(nn.Module model)
    {
        foreach (var (name, p) in model.named_parameters())
            p.requires_grad = IsAdapterParameter(name, null);
    }

    private static bool IsAdapterParameter(string name, string? adapter)
    {
        foreach (var part in new[] { ".lora_A.", ".lora_B." })
        {
            int at = name.IndexOf(part, StringComparison.Ordinal);
            if (at >= 0 && (adapter is null || name.AsSpan(at + part.Length).StartsWith(adapter + ".", StringComparison.Ordinal)))
                return true;
        }
        return false;
    }

    private static void ForAdapter(nn.Module model, string adapter, Action<LoraLayer> action)
    {
        var layers = Layers(model).Where(l => l.Layer.Adapters.Contains(adapter)).ToList();
        if (layers.Count == 0) throw new DreamBoothException($"No LoRA adapter named '{adapter}' in {model.GetType().Name}.");
        foreach (var (_, layer) in layers) action(layer);
    }
}
