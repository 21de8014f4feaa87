// Mirrors peft src/peft/tuners/lora/layer.py::LoraLayer (peft 0.10): a base layer plus named low-rank adapters,
// y = base(x) + Σ_active scaling_a · B_a(A_a(dropout_a(x))), with merge (diffusers' fuse_lora) and unmerge.
// The same layer also carries LyCORIS LoHa/LoKr adapters loaded from files: their ΔW is rebuilt from the factors and
// applied as a side path, op(x, scaling · ΔW) (LyCORIS' bypass forward), or merged into the weight like a LoRA.
namespace DreamBooth.Lora;

using DreamBooth.Torch;

using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>One adapter's settings inside a <see cref="LoraLayer"/>.</summary>
/// <param name="Rank">r: rows of A / columns of B.</param>
/// <param name="Alpha">lora_alpha; the adapter's own scale is alpha / r (alpha / √r with rsLoRA).</param>
/// <param name="Weight">User multiplier on top of alpha / r (diffusers' adapter weight / A1111's &lt;lora:name:weight&gt;).</param>
public sealed record LoraAdapterSettings(int Rank, double Alpha, double Dropout = 0.0, bool UseRsLora = false, double Weight = 1.0,
                                         bool Enabled = true)
{
    /// <summary>alpha / r (or alpha / √r), before the user weight.</summary>
    public double BaseScaling => UseRsLora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank;

    /// <summary>The factor the forward pass applies to B(A(x)).</summary>
    public double Scaling => BaseScaling * Weight;
}

/// <summary>
/// A Linear or Conv2d with LoRA adapters (see <see cref="LoraLinear"/>, <see cref="LoraConv2d"/>). Parameters are
/// named like peft's: <c>base_layer.weight</c>, <c>lora_A.&lt;adapter&gt;.weight</c>, <c>lora_B.&lt;adapter&gt;.weight</c>.
/// </summary>
public abstract class LoraLayer : Module<Tensor, Tensor>
{
    // Field names are peft's attribute names (they become parameter names). Registration order = peft's.
    private readonly Module<Tensor, Tensor> base_layer;
    private readonly Modules.ModuleDict<Module<Tensor, Tensor>> lora_A;
    private readonly Modules.ModuleDict<Module<Tensor, Tensor>> lora_B;
    // Registered on the first LyCORIS adapter only, so that a LoRA-only layer has exactly peft's modules.
    private Modules.ModuleDict<LycorisAdapter>? lycoris;
    private readonly Dictionary<string, LoraAdapterSettings> settings = new(StringComparer.Ordinal);
    private readonly List<(string Adapter, double Factor)> merged = [];   // what Fuse added to the base weight, in order

    protected LoraLayer(string name, Module<Tensor, Tensor> baseLayer) : base(name)
    {
        base_layer = baseLayer;
        lora_A = new Modules.ModuleDict<Module<Tensor, Tensor>>();
        lora_B = new Modules.ModuleDict<Module<Tensor, Tensor>>();
        RegisterComponents();
    }

    /// <summary>The wrapped Linear / Conv2d (its weight is what Fuse changes).</summary>
    public Module<Tensor, Tensor> BaseLayer => base_layer;

    /// <summary>The base layer's weight: [out, in] or [out, in, kh, kw].</summary>
    public abstract Modules.Parameter BaseWeight { get; }

    /// <summary>Adapter names: the LoRA ones, then the LyCORIS ones, each in the order they were added.</summary>
    public IReadOnlyList<string> Adapters => [.. lora_A.keys(), .. lycoris?.keys() ?? []];

    public LoraAdapterSettings Settings(string adapter) =>
        settings.TryGetValue(adapter, out var s) ? s : throw new DreamBoothException($"No LoRA adapter named '{adapter}' on this layer.");

    /// <summary>lora_A.&lt;adapter&gt;.weight: [r, in] (Conv2d: [r, in, kh, kw]).</summary>
    public Modules.Parameter A(string adapter) => WeightOf(lora_A, NotLycoris(adapter));

    /// <summary>lora_B.&lt;adapter&gt;.weight: [out, r] (Conv2d: [out, r, 1, 1]).</summary>
    public Modules.Parameter B(string adapter) => WeightOf(lora_B, NotLycoris(adapter));

    /// <summary>The LoHa/LoKr adapter of that name, or null when it is a LoRA adapter (or none).</summary>
    public LycorisAdapter? Lycoris(string adapter) => lycoris is not null && lycoris.ContainsKey(adapter) ? lycoris[adapter] : null;

    /// <summary>Adapters whose weights are currently merged into the base weight, with the factor used.</summary>
    public IReadOnlyList<(string Adapter, double Factor)> Merged => merged;

    /// <summary>
    /// Adds an adapter with B zeros (so the layer starts unchanged) and A initialised as peft does: kaiming-uniform
    /// (a=√5), or N(0, 1/r) for <see cref="LoraInit.Gaussian"/>.
    /// </summary>
    /// <param name="dtype">Adapter dtype (default: the base weight's); e.g. float32 adapters on a float16 model.</param>
    public void AddAdapter(string adapter, LoraAdapterSettings adapterSettings, ScalarType? dtype = null, LoraInit init = LoraInit.Kaiming)
    {
        CheckNewName(adapter);
        if (adapterSettings.Rank < 1) throw new DreamBoothException($"LoRA rank must be at least 1, not {adapterSettings.Rank}.");
        var device = BaseWeight.device;
        var type = dtype ?? BaseWeight.dtype;
        // Building the pair runs the layers' default initialisation (A, then B) from torch's global generator, as
        // peft's nn.Linear/nn.Conv2d do; A is then drawn again, so the generator advances exactly as in peft.
        var (down, up) = CreatePair(adapterSettings.Rank, device, type);
        if (device.type != DeviceType.META)
        {
            using var noGrad = no_grad();
            if (init == LoraInit.Gaussian) nn.init.normal_(WeightOf(down), 0, 1.0 / adapterSettings.Rank);
            else nn.init.kaiming_uniform_(WeightOf(down), a: Math.Sqrt(5));
            WeightOf(up).zero_();
        }
        // ModuleDict only registers its entries once; later additions are registered by hand.
        lora_A.Add(adapter, down);
        lora_A.register_module(adapter, down);
        lora_B.Add(adapter, up);
        lora_B.register_module(adapter, up);
        settings[adapter] = adapterSettings;
        down.train(training);
        up.train(training);
    }

    /// <summary>
    /// Adds a LyCORIS LoHa/LoKr adapter (its factors already on the layer's device); <paramref name="adapterSettings"/>
    /// gives alpha / rank and the user weight as for a LoRA adapter. Its ΔW must have the base weight's shape.
    /// </summary>
    public void AddAdapter(string adapter, LycorisAdapter module, LoraAdapterSettings adapterSettings)
    {
        CheckNewName(adapter);
        using (no_grad())
        using (NewDisposeScope())
            module.Delta(BaseWeight.shape);   // a wrong shape fails here, not mid-generation
        if (lycoris is null)
        {
            lycoris = new Modules.ModuleDict<LycorisAdapter>();
            register_module(nameof(lycoris), lycoris);
        }
        lycoris.Add(adapter, module);
        lycoris.register_module(adapter, module);
        settings[adapter] = adapterSettings;
        module.train(training);
    }

    /// <summary>Removes an adapter (unfuse first if it is merged).</summary>
    public void DeleteAdapter(string adapter)
    {
        Settings(adapter);
        if (merged.Any(m => m.Adapter == adapter)) throw new DreamBoothException($"LoRA adapter '{adapter}' is fused; unfuse it first.");
        if (Lycoris(adapter) is { } factors)
        {
            lycoris!.Remove(adapter);
            lycoris.register_module(adapter, null!);
            factors.Dispose();
            settings.Remove(adapter);
            return;
        }
        foreach (var dict in new[] { lora_A, lora_B })
        {
            var module = dict[adapter];
            dict.Remove(adapter);
            dict.register_module(adapter, null!);
            module.Dispose();
        }
        settings.Remove(adapter);
    }

    /// <summary>Sets the user multiplier (A1111's LoRA weight) of one adapter.</summary>
    public void SetWeight(string adapter, double weight) => settings[adapter] = Settings(adapter) with { Weight = weight };

    /// <summary>Turns one adapter on or off (off: it contributes nothing unless fused).</summary>
    public void SetEnabled(string adapter, bool enabled) => settings[adapter] = Settings(adapter) with { Enabled = enabled };

    /// <summary>Copies A and B in (shapes must match exactly; dtype/device are converted).</summary>
    public void LoadAdapterWeights(string adapter, Tensor a, Tensor b)
    {
        var (pa, pb) = (A(adapter), B(adapter));
        if (!a.shape.SequenceEqual(pa.shape) || !b.shape.SequenceEqual(pb.shape))
            throw new DreamBoothException(
                $"LoRA weights for adapter '{adapter}' have shapes A {Shape(a)}, B {Shape(b)}; the layer needs A {Shape(pa)}, B {Shape(pb)}.");
        using var noGrad = no_grad();
        pa.copy_(a);
        pb.copy_(b);
    }

    /// <summary>
    /// Merges adapters into the base weight like diffusers' <c>fuse_lora(lora_scale=scale)</c> / peft's merge:
    /// <c>W += scale · weight · (alpha/r) · B @ A</c>. Fused adapters are skipped by the forward pass.
    /// </summary>
    /// <param name="adapters">Which adapters (default: the enabled ones not yet fused).</param>
    public void Fuse(double scale = 1.0, IEnumerable<string>? adapters = null)
    {
        using var noGrad = no_grad();
        foreach (var adapter in (adapters ?? settings.Where(kv => kv.Value.Enabled).Select(kv => kv.Key)).ToList())
        {
            if (merged.Any(m => m.Adapter == adapter)) continue;
            double factor = scale * Settings(adapter).Scaling;
            using var scope = NewDisposeScope();
            Ops.AddInPlace(BaseWeight, DeltaWeight(adapter, factor));
            merged.Add((adapter, factor));
        }
    }

    /// <summary>
    /// Undoes <see cref="Fuse"/> by subtracting exactly the deltas that were added (recomputed from the same A, B and
    /// factor, newest first). The base weight comes back within float rounding of the original (W + Δ − Δ in the
    /// weight's dtype), not bit-for-bit: adapters trained while fused would not be restored correctly.
    /// </summary>
    public void Unfuse()
    {
        using var noGrad = no_grad();
        for (int i = merged.Count - 1; i >= 0; i--)
        {
            using var scope = NewDisposeScope();
            BaseWeight.sub_(DeltaWeight(merged[i].Adapter, merged[i].Factor));
        }
        merged.Clear();
    }

    /// <summary>factor · B @ A (LyCORIS: factor · ΔW of the factors) in the base weight's shape and dtype (peft get_delta_weight × factor).</summary>
    public Tensor DeltaWeight(string adapter, double factor)
    {
        if (Lycoris(adapter) is { } module) return (module.Delta(BaseWeight.shape) * factor).to(BaseWeight.dtype);
        var (a, b) = (A(adapter), B(adapter));
        return Ops.Mul(Product(a, b), factor).to(BaseWeight.dtype);
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var result = base_layer.call(x);
        var resultType = result.dtype;
        foreach (var (adapter, s) in settings)
        {
            if (!s.Enabled || merged.Any(m => m.Adapter == adapter)) continue;
            if (Lycoris(adapter) is { } module)
            {
                // LyCORIS' bypass forward: the layer's own operation with ΔW as its weight, added to the base output.
                var delta = module.Delta(BaseWeight.shape);
                result = Ops.Add(result, Apply(x.to(delta.dtype), Ops.Mul(delta, s.Scaling)).to(resultType));
                continue;
            }
            var down = lora_A[adapter];
            var h = x.to(A(adapter).dtype);
            if (s.Dropout > 0) h = functional.dropout(h, s.Dropout, training);
            // peft's order: B(A(x)) first, then × scaling.
            result = Ops.Add(result, Ops.Mul(lora_B[adapter].call(down.call(h)), s.Scaling).to(resultType));
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Creates the down (A) and up (B) modules for rank r.</summary>
    protected abstract (Module<Tensor, Tensor> Down, Module<Tensor, Tensor> Up) CreatePair(int rank, Device device, ScalarType dtype);

    /// <summary>The base layer's operation (linear / conv with its geometry) with another weight and no bias.</summary>
    protected abstract Tensor Apply(Tensor x, Tensor weight);

    /// <summary>B @ A as a weight of the base layer's shape (before scaling).</summary>
    protected abstract Tensor Product(Tensor a, Tensor b);

    /// <summary>The shape A must have for rank r.</summary>
    public abstract long[] AShape(long rank);

    /// <summary>The shape B must have for rank r.</summary>
    public abstract long[] BShape(long rank);

    /// <summary>e.g. "Linear [320 → 640]" for error messages.</summary>
    public abstract string Describe();

    internal static string Shape(Tensor t) => Shape(t.shape);

    internal static string Shape(long[] shape) => $"[{string.Join(", ", shape)}]";

    private void CheckNewName(string adapter)
    {
        if (string.IsNullOrEmpty(adapter) || adapter.Contains('.', StringComparison.Ordinal))
            throw new DreamBoothException($"LoRA adapter name '{adapter}' must be non-empty and contain no '.'.");
        if (settings.ContainsKey(adapter)) throw new DreamBoothException($"LoRA adapter '{adapter}' already exists on this layer.");
    }

    private string NotLycoris(string adapter) => Lycoris(adapter) is { } module
        ? throw new DreamBoothException($"Adapter '{adapter}' is a LyCORIS {module.Algorithm} adapter; it has no LoRA A/B matrices.")
        : adapter;

    private static Modules.Parameter WeightOf(Modules.ModuleDict<Module<Tensor, Tensor>> dict, string adapter) =>
        dict.ContainsKey(adapter) ? WeightOf(dict[adapter]) : throw new DreamBoothException($"No LoRA adapter named '{adapter}' on this layer.");

    private static Modules.Parameter WeightOf(Module<Tensor, Tensor> module) => module switch
    {
        Modules.Linear l => l.weight,
        Modules.Conv2d c => c.weight,
        _ => throw new InvalidOperationException($"Unexpected LoRA module {module.GetType().Name}."),
    };
}
