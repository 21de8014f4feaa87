// LyCORIS adapters that are not a down/up pair (LoHa, LoKr): each holds its factors as stored in the file and rebuilds
// ΔW from them with the formulas of LyCORIS' lycoris/functional/loha.py and lokr.py (make_weight, make_kron,
// rebuild_tucker). The alpha / rank scale and the user multiplier stay with the LoraLayer that carries the adapter.
namespace DreamBooth.Lora;

using TorchSharp;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

/// <summary>Which LyCORIS algorithm a file entry (or loaded adapter) uses.</summary>
public enum LoraAlgorithm
{
    /// <summary>A low-rank down/up pair (LoRA, LoCon): ΔW = up @ down.</summary>
    LoRA,

    /// <summary>LyCORIS LoHa: ΔW = (w1_a @ w1_b) ⊙ (w2_a @ w2_b), or with CP/Tucker cores t1, t2.</summary>
    LoHa,

    /// <summary>LyCORIS LoKr: ΔW = w1 ⊗ w2, each factor whole or as a low-rank product (w2 optionally Tucker).</summary>
    LoKr,
}

/// <summary>A LoHa or LoKr adapter's factors (parameters named as in the file) and the ΔW they make.</summary>
public abstract class LycorisAdapter : nn.Module
{
    private readonly Dictionary<string, Modules.Parameter> factors = new(StringComparer.Ordinal);

    /// <param name="factors">The factors by LyCORIS name (hada_w1_a, lokr_w1, …), on the device and dtype wanted;
    /// they are copied and frozen (these adapters are for generation).</param>
    protected LycorisAdapter(string name, IReadOnlyDictionary<string, Tensor> factors) : base(name)
    {
        foreach (var (key, value) in factors)
        {
            var p = new Modules.Parameter(value.detach().clone().DetachFromDisposeScope(), requires_grad: false);
            this.factors[key] = p;
            register_parameter(key, p);
        }
    }

    public abstract LoraAlgorithm Algorithm { get; }

    /// <summary>ΔW before scaling, in the base weight's shape ([out, in] or [out, in, kh, kw]).</summary>
    public abstract Tensor Delta(long[] weightShape);

    /// <summary>Builds the adapter for <paramref name="algorithm"/> from its factors.</summary>
    public static LycorisAdapter Create(LoraAlgorithm algorithm, IReadOnlyDictionary<string, Tensor> factors) => algorithm switch
    {
        LoraAlgorithm.LoHa => new LoHaAdapter(factors),
        LoraAlgorithm.LoKr => new LoKrAdapter(factors),
        _ => throw new ArgumentException($"{algorithm} is not a LyCORIS weight-product algorithm.", nameof(algorithm)),
    };

    /// <summary>
    /// The rank (LyCORIS' lora_dim) that alpha is divided by: the rows of the first low-rank factor's b (LoHa w1_b; LoKr
    /// w1_b, else w2_b), which is the rank in both the plain and the Tucker layout (as A1111 and ComfyUI read it;
    /// LyCORIS' own make_module_from_state_dict reads w2_a's columns, which in the Tucker layout are not the rank).
    /// Null for a LoKr whose factors are both whole matrices: LyCORIS then ignores alpha (scale 1).
    /// </summary>
    public static int? RankOf(LoraAlgorithm algorithm, IReadOnlyDictionary<string, long[]> shapes) => algorithm switch
    {
        LoraAlgorithm.LoHa => (int)shapes["hada_w1_b"][0],
        _ => shapes.TryGetValue("lokr_w1_b", out var w1b) ? (int)w1b[0]
           : shapes.TryGetValue("lokr_w2_b", out var w2b) ? (int)w2b[0] : null,
    };

    /// <summary>
    /// Why the factor shapes cannot make a ΔW of <paramref name="weightShape"/> (null when they can). Checked before
    /// anything is read, so that a file for another model fails naming the module.
    /// </summary>
    public static string? ShapeProblem(LoraAlgorithm algorithm, IReadOnlyDictionary<string, long[]> shapes, long[] weightShape)
    {
        long[]? made = algorithm == LoraAlgorithm.LoHa ? LoHaAdapter.Shape(shapes) : LoKrAdapter.Shape(shapes);
        if (made is null) return "its factors do not multiply (inner sizes differ)";
        // A product may come flat ([out, in·kh·kw]) or as [out, in, 1, 1] for a Linear, and is then reshaped, as
        // LyCORIS does with view(shape); two 4-d shapes must agree (the kernel layout).
        long numel = weightShape.Aggregate(1L, (a, b) => a * b), madeNumel = made.Aggregate(1L, (a, b) => a * b);
        bool fits = made.SequenceEqual(weightShape) ||
                    (made[0] == weightShape[0] && madeNumel == numel && (made.Length == 2 || weightShape.Length == 2));
        return fits ? null : $"its factors make a ΔW of shape {LoraLayer.Shape(made)}";
    }

    /// <summary>The factor named <paramref name="key"/>, or null when the file has none.</summary>
    protected Tensor? Factor(string key) => factors.GetValueOrDefault(key);

    protected Tensor Required(string key) => factors[key];

    /// <summary>rebuild_tucker: W[p, q, …] = Σ_ij t[i, j, …] · a[i, p] · b[j, q], with a [r, out] and b [r', in].</summary>
    protected static Tensor Tucker(Tensor t, Tensor a, Tensor b) => einsum("ijkl,ip,jq->pqkl", t, a, b);
}
