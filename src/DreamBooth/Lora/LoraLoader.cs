// Applies a LoRA file to a pipeline's models (diffusers' load_lora_weights / A1111's <lora:name:weight>): maps every
// entry to a module, checks shapes, injects an adapter and copies the weights in. LyCORIS LoHa/LoKr entries become
// LoHa/LoKr adapters on the same layers (see LycorisAdapter), unfused like LoRA until LoraModel.Fuse merges them.
namespace DreamBooth.Lora;

using DreamBooth.Loading;
using DreamBooth.Models.Unets;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

/// <summary>The models a LoRA file may touch (any may be null when the file has nothing for it).</summary>
public sealed record LoraTargets(nn.Module? Unet, nn.Module? TextEncoder = null, nn.Module? TextEncoder2 = null)
{
    public nn.Module? this[LoraComponent component] => component switch
    {
        LoraComponent.Unet => Unet,
        LoraComponent.TextEncoder => TextEncoder,
        _ => TextEncoder2,
    };
}

/// <summary>Options for <see cref="LoraLoader"/>.</summary>
public sealed record LoraLoadOptions
{
    /// <summary>
    /// Alpha to use for every module, overriding the file. diffusers files carry no alpha and kohya files written by
    /// diffusers' converter carry alpha = rank, so an adapter trained with alpha ≠ rank needs its alpha given here.
    /// </summary>
    public double? Alpha { get; init; }

    /// <summary>Leave the loaded adapter weights requiring grad (to resume training). Default: frozen. LoRA files only:
    /// LoHa/LoKr adapters are loaded for generation.</summary>
    public bool Trainable { get; init; }

    /// <summary>Adapter dtype (default: each base layer's).</summary>
    public ScalarType? Dtype { get; init; }
}

/// <summary>A file entry mapped onto a model module.</summary>
/// <param name="Rank">The rank alpha is divided by (1 for a LoKr of two whole matrices, whose scale is 1).</param>
/// <param name="Alpha">Effective alpha (file, option or rank); <see cref="Scale"/> = Alpha / Rank (or / √Rank with rsLoRA).</param>
public sealed record LoraModuleMapping(LoraComponent Component, string ModulePath, LoraFileEntry Entry, int Rank, double Alpha,
                                       bool UseRsLora)
{
    public double Scale => UseRsLora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank;
}

/// <summary>Loads LoRA files (diffusers, peft or kohya/A1111 naming) into a pipeline's models as named adapters.</summary>
public static class LoraLoader
{
    /// <summary>
    /// Loads <paramref name="path"/> as adapter <paramref name="adapterName"/> (scale = alpha/r × <paramref name="multiplier"/>),
    /// unfused. Load the models' base weights first. Returns what was mapped where.
    /// </summary>
    public static IReadOnlyList<LoraModuleMapping> Apply(LoraTargets targets, string path, double multiplier = 1.0,
                                                         string adapterName = "default", LoraLoadOptions? options = null)
    {
        options ??= new LoraLoadOptions();
        using var file = LoraFile.Open(path);
        var mappings = Resolve(targets, file, options);
        foreach (var component in mappings.Select(m => m.Component).Distinct())
            if (LoraModel.AdapterNames(targets[component]!).Contains(adapterName))
                throw new DreamBoothException(
                    $"The {Describe(component)} already has a LoRA adapter named '{adapterName}'; load {Path.GetFileName(path)} under another name.");
        foreach (var group in mappings.GroupBy(m => m.Component))
        {
            var model = targets[group.Key]!;
            var modules = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
            foreach (var m in group)
            {
                var layer = LoraInjector.Wrap(model, m.ModulePath, modules);
                var settings = new LoraAdapterSettings(m.Rank, m.Alpha, UseRsLora: m.UseRsLora, Weight: multiplier);
                Tensor Read(string part) => Finite(file.Path, m.Entry.Tensors[part].Key, file.Read(m.Entry.Tensors[part].Key));
                if (m.Entry.Algorithm != LoraAlgorithm.LoRA)
                {
                    using var factorScope = NewDisposeScope();   // the adapter keeps its own copies
                    var (device, dtype) = (layer.BaseWeight.device, options.Dtype ?? layer.BaseWeight.dtype);
                    var factors = m.Entry.Tensors.Keys.ToDictionary(k => k, k => Read(k).to(dtype, device));
                    layer.AddAdapter(adapterName, LycorisAdapter.Create(m.Entry.Algorithm, factors), settings);
                    continue;
                }
                layer.AddAdapter(adapterName, settings, options.Dtype);   // outside the scope: it creates the parameters
                using var scope = NewDisposeScope();
                layer.LoadAdapterWeights(adapterName, Read("down").reshape(layer.AShape(m.Rank)), Read("up").reshape(layer.BShape(m.Rank)));
                layer.A(adapterName).requires_grad = options.Trainable;
                layer.B(adapterName).requires_grad = options.Trainable;
            }
        }
        return mappings;
    }

    /// <summary>Loads a file into a UNet and (if the file has text-encoder weights) a text encoder.</summary>
    public static IReadOnlyList<LoraModuleMapping> Apply(nn.Module unet, nn.Module? textEncoder, string path, double multiplier = 1.0,
                                                         string adapterName = "default", LoraLoadOptions? options = null) =>
        Apply(new LoraTargets(unet, textEncoder), path, multiplier, adapterName, options);

    /// <summary>
    /// Maps every entry of the file onto a module of <paramref name="targets"/> and checks its shapes, without changing
    /// the models (works on META-device models). Throws a <see cref="DreamBoothException"/> naming the first key that
    /// does not fit.
    /// </summary>
    public static IReadOnlyList<LoraModuleMapping> Resolve(LoraTargets targets, LoraFile file, LoraLoadOptions? options = null)
    {
        options ??= new LoraLoadOptions();
        if (options.Trainable && file.Entries.FirstOrDefault(e => e.Algorithm != LoraAlgorithm.LoRA) is { } lycoris)
            throw new DreamBoothException($"{file.Path} is a LyCORIS {lycoris.Algorithm} file; it can be loaded for generation, not for further training.");
        var result = new List<LoraModuleMapping>(file.Entries.Count);
        foreach (var group in file.Entries.GroupBy(e => e.Component))
        {
            var model = targets[group.Key] ?? throw new DreamBoothException(
                $"{file.Path} has {group.Count()} {Describe(group.Key)} modules, but no {Describe(group.Key)} was given to apply them to.");
            var index = new ModuleIndex(model);
            var all = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
            foreach (var entry in group)
            {
                var (path, module) = index.Find(entry) ?? throw new DreamBoothException(
                    $"{file.Path}: LoRA key '{entry.Key}' names no module of the {Describe(entry.Component)} " +
                    $"('{entry.Module}'{(entry.IsFlatName ? ", matched against module names with '.' → '_'" : "")}). {OtherBaseHint}");
                CheckShapes(file.Path, entry, path, module);
                LoraInjector.CheckWrappable(model, path, all);
                var fromFile = file.AlphaOf(entry);
                if (entry.Rank is not int rank)
                {
                    result.Add(new(entry.Component, path, entry, 1, 1, false));   // LoKr of two whole matrices: scale 1
                    continue;
                }
                double alpha = options.Alpha ?? fromFile?.Alpha ?? rank;
                // LyCORIS (like kohya's LoRA module) reads alpha 0 as "alpha = rank".
                if (entry.Algorithm != LoraAlgorithm.LoRA && alpha == 0) alpha = rank;
                result.Add(new(entry.Component, path, entry, rank, alpha, options.Alpha is null && (fromFile?.UseRsLora ?? false)));
            }
            var duplicate = result.GroupBy(r => (r.Component, r.ModulePath)).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null)
                throw new DreamBoothException($"{file.Path}: several entries map onto module '{duplicate.Key.ModulePath}' " +
                                              $"({string.Join(", ", duplicate.Select(d => d.Entry.Key))}).");
        }
        return result;
    }

    // NaN/Inf weights (or values so large that the adapter's product overflows) gave black images and exit 0.
    private const double MaxLoraValue = 65504; // the largest float16: no trained adapter comes near it

    private static Tensor Finite(string file, string key, Tensor t)
    {
        if (t.numel() == 0) return t;
        using var scope = NewDisposeScope();
        var values = t.to_type(ScalarType.Float32);
        if (!isfinite(values).all().item<bool>())
            throw new DreamBoothException($"{file}: LoRA tensor '{Text.Names.Short(key)}' contains NaN or infinite values; the file is damaged or its training diverged.");
        var max = values.abs().max().item<float>();
        if (max > MaxLoraValue)
            throw new DreamBoothException($"{file}: LoRA tensor '{Text.Names.Short(key)}' holds values up to {max:g3}, far beyond any trained adapter (its output would overflow).");
        return t;
    }

    // The usual cause of a key or shape that does not fit: the LoRA was trained on another model family.
    private const string OtherBaseHint = "Was the LoRA made for another base model (SD 1.x, 2.x or XL)?";

    private static string Describe(LoraComponent c) => c switch
    {
        LoraComponent.Unet => "UNet",
        LoraComponent.TextEncoder => "text encoder",
        _ => "second text encoder",
    };

    private static void CheckShapes(string file, LoraFileEntry entry, string path, nn.Module module)
    {
        var weight = module switch
        {
            LoraLayer l => l.BaseWeight.shape,
            Modules.Linear l => l.weight.shape,
            Modules.Conv2d c => c.weight.shape,
            _ => throw new DreamBoothException(
                $"{file}: LoRA key '{entry.Key}' targets '{path}', a {module.GetType().Name}; only Linear and Conv2d layers can carry LoRA adapters."),
        };
        if (entry.Algorithm != LoraAlgorithm.LoRA)
        {
            var problem = LycorisAdapter.ShapeProblem(entry.Algorithm, entry.Tensors.ToDictionary(t => t.Key, t => t.Value.Shape), weight);
            if (problem is not null)
                throw new DreamBoothException(
                    $"{file}: {entry.Algorithm} module of key '{entry.Key}' cannot adapt '{path}' ({ShapeText(weight)}): {problem}. {OtherBaseHint}");
            return;
        }
        var (down, up) = (entry.Tensors["down"], entry.Tensors["up"]);
        long r = down.Shape[0];
        // Linear [out, in]: A [r, in], B [out, r]. Conv2d [out, in, kh, kw]: A [r, in, kh, kw], B [out, r, 1, 1].
        // A 1×1 conv and a Linear accept each other's layout (SD 1.x proj_in is a conv, SD 2.x's a Linear).
        long[] a = weight.Length == 2 ? [r, weight[1]] : [r, weight[1], weight[2], weight[3]];
        long[] b = weight.Length == 2 ? [weight[0], r] : [weight[0], r, 1, 1];
        foreach (var (key, shape, needed) in new[] { (down.Key, down.Shape, a), (up.Key, up.Shape, b) })
            if (!Fits(shape, needed))
                throw new DreamBoothException(
                    $"{file}: LoRA key '{key}' has shape {LoraLayer.Shape(shape)} but '{path}' ({ShapeText(weight)}) needs {LoraLayer.Shape(needed)}. {OtherBaseHint}");
    }

    private static bool Fits(long[] shape, long[] needed) =>
        shape.SequenceEqual(needed) || Squeeze(shape).SequenceEqual(Squeeze(needed));

    private static long[] Squeeze(long[] s) => s.Length == 4 && s[2] == 1 && s[3] == 1 ? [s[0], s[1]] : s;

    private static string ShapeText(long[] w) => w.Length == 2 ? $"Linear [{w[1]} → {w[0]}]" : $"Conv2d [{w[1]} → {w[0]}, {w[2]}×{w[3]}]";

    /// <summary>A model's adaptable modules by path, by kohya flat name and (UNet) by LDM flat name.</summary>
    private sealed class ModuleIndex
    {
        private readonly Dictionary<string, nn.Module> byPath = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string?> byFlat = new(StringComparer.Ordinal);      // null value: ambiguous
        private readonly Dictionary<string, string?> byLdmFlat = new(StringComparer.Ordinal);

        public ModuleIndex(nn.Module model)
        {
            var layout = model is UNet2DConditionModel unet ? LdmUnetLayout.Of(unet.Config.LayersPerBlock, unet.Config.UpBlockTypes) : null;
            foreach (var (path, module) in LoraInjector.ModulesOutsideAdapters(model))
            {
                if (module is not (Modules.Linear or Modules.Conv2d or LoraLayer)) continue;
                byPath[path] = module;
                Add(byFlat, Flat(path), path);
                if (layout is not null && TryLdm(path, layout) is string ldm) Add(byLdmFlat, Flat(ldm), path);
            }
        }

        public (string Path, nn.Module Module)? Find(LoraFileEntry entry)
        {
            string? path = entry.IsFlatName
                ? byFlat.GetValueOrDefault(entry.Module) ?? byLdmFlat.GetValueOrDefault(entry.Module)
                : entry.Module;
            return path is not null && byPath.TryGetValue(path, out var module) ? (path, module) : null;
        }

        private static string Flat(string path) => path.Replace('.', '_');

        private static void Add(Dictionary<string, string?> index, string key, string path) =>
            index[key] = index.ContainsKey(key) ? null : path;

        private static string? TryLdm(string path, LdmUnetLayout layout)
        {
            try
            {
                var key = LdmKeyMap.UnetToLdm(path + ".weight", layout);
                return key[..^".weight".Length];
            }
            catch (DreamBoothException)
            {
                return null;   // modules with no single-file name (none in SD UNets, but stay lenient)
            }
        }
    }
}
