// Mirrors peft's inject_adapter_in_model / diffusers' unet.add_adapter(LoraConfig): wraps every matching Linear
// (or Conv2d) of a model in a LoRA layer, in place.
namespace DreamBooth.Lora;

using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

/// <summary>Adds LoRA adapters to a model's layers.</summary>
/// <remarks>
/// After injection a wrapped layer's own parameters are named <c>&lt;module&gt;.base_layer.weight</c> (as in peft), so
/// load base weights (StateDictLoader / FromPretrained) <b>before</b> injecting; the adapters are named
/// <c>&lt;module&gt;.lora_A.&lt;adapter&gt;.weight</c> / <c>&lt;module&gt;.lora_B.&lt;adapter&gt;.weight</c>.
/// </remarks>
public static class LoraInjector
{
    /// <summary>Adds adapter <paramref name="adapterName"/> to every module matching <see cref="LoraConfig.TargetModules"/>.</summary>
    /// <returns>The adapted module paths, in model order.</returns>
    public static IReadOnlyList<string> Inject(nn.Module model, LoraConfig config, string adapterName = "default")
    {
        config.Validate();
        var matches = ModulesOutsideAdapters(model).Where(m => Matches(m.Path, config.TargetModules)).ToList();
        if (matches.Count == 0)
            throw new DreamBoothException(
                $"LoRA target modules [{string.Join(", ", config.TargetModules)}] match no module of {model.GetType().Name}.");
        foreach (var (path, module) in matches)
            if (module is not (Modules.Linear or Modules.Conv2d or LoraLayer))
                throw new DreamBoothException(
                    $"LoRA target '{path}' is a {module.GetType().Name}; only Linear and Conv2d layers can carry LoRA adapters.");

        var settings = new LoraAdapterSettings(config.Rank, config.Alpha, config.Dropout, config.UseRsLora);
        var all = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        foreach (var (path, _) in matches) CheckWrappable(model, path, all);   // all or nothing
        foreach (var (path, _) in matches)
            Wrap(model, path, all).AddAdapter(adapterName, settings, config.Dtype, config.Init);
        if (config.FreezeBaseModel) LoraModel.FreezeAllButAdapters(model);
        return [.. matches.Select(m => m.Path)];
    }

    /// <summary>peft's rule: the path equals a target or ends with "." + target.</summary>
    public static bool Matches(string path, IEnumerable<string> targets) =>
        targets.Any(t => path == t || path.EndsWith("." + t, StringComparison.Ordinal));

    /// <summary>
    /// The LoRA layer at <paramref name="path"/>: the existing one, or a new <see cref="LoraLinear"/> /
    /// <see cref="LoraConv2d"/> that replaces the Linear / Conv2d found there in its parent.
    /// </summary>
    public static LoraLayer Wrap(nn.Module model, string path) =>
        Wrap(model, path, model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal));

    /// <param name="all">The model's named_modules(), kept up to date here (saves re-listing them per layer).</param>
    internal static LoraLayer Wrap(nn.Module model, string path, Dictionary<string, nn.Module> all)
    {
        if (!all.TryGetValue(path, out var module)) throw new DreamBoothException($"{model.GetType().Name} has no module '{path}'.");
        if (module is LoraLayer existing) return existing;
        LoraLayer layer = module switch
        {
            Modules.Linear linear => new LoraLinear(linear),
            Modules.Conv2d conv => new LoraConv2d(conv),
            _ => throw new DreamBoothException(
                $"'{path}' is a {module.GetType().Name}; only Linear and Conv2d layers can carry LoRA adapters."),
        };
        int dot = path.LastIndexOf('.');
        var parent = dot < 0 ? model : all[path[..dot]];
        ModuleReplacer.Replace(parent, path[(dot + 1)..], module, layer, path);
        layer.train(module.training);
        all[path] = layer;
        return layer;
    }

    /// <summary>Throws (naming the module) unless <see cref="Wrap(nn.Module, string)"/> can wrap the module at <paramref name="path"/>.</summary>
    internal static void CheckWrappable(nn.Module model, string path, Dictionary<string, nn.Module> all)
    {
        var module = all[path];
        Type wrapper = module switch
        {
            LoraLayer => typeof(LoraLayer),
            Modules.Linear => typeof(LoraLinear),
            Modules.Conv2d => typeof(LoraConv2d),
            _ => throw new DreamBoothException(
                $"'{path}' is a {module.GetType().Name}; only Linear and Conv2d layers can carry LoRA adapters."),
        };
        if (module is LoraLayer) return;
        int dot = path.LastIndexOf('.');
        ModuleReplacer.Check(dot < 0 ? model : all[path[..dot]], module, wrapper, path);
    }

    /// <summary>
    /// Every module of <paramref name="model"/> by path, except the insides of LoRA layers (their base layer and
    /// adapters are reached through the layer).
    /// </summary>
    public static IEnumerable<(string Path, nn.Module Module)> ModulesOutsideAdapters(nn.Module model)
    {
        var all = model.named_modules().ToList();
        var loraPrefixes = all.Where(m => m.module is LoraLayer).Select(m => m.name + ".").ToList();
        return all.Where(m => !loraPrefixes.Any(p => m.name.StartsWith(p, StringComparison.Ordinal)))
                  .Select(m => (m.name, m.module));
    }
}
