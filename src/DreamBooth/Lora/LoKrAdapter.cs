// Mirrors LyCORIS lycoris/functional/lokr.py (diff_weight: make_kron, rebuild_tucker).
namespace DreamBooth.Lora;

using static TorchSharp.torch;

/// <summary>LoKr: ΔW = kron(w1, w2), w1 = lokr_w1 or w1_a @ w1_b, w2 = lokr_w2, w2_a @ w2_b or rebuild_tucker(t2, w2_a, w2_b).</summary>
public sealed class LoKrAdapter(IReadOnlyDictionary<string, Tensor> factors) : LycorisAdapter(nameof(LoKrAdapter), factors)
{
    /// <summary>The names a LoKr entry may have: w1 whole or as w1_a/w1_b, w2 whole or as w2_a/w2_b (with t2: Tucker).</summary>
    public static readonly string[] Names = ["lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2"];

    public override LoraAlgorithm Algorithm => LoraAlgorithm.LoKr;

    public override Tensor Delta(long[] weightShape)
    {
        using var scope = NewDisposeScope();
        var w1 = Factor("lokr_w1") ?? Required("lokr_w1_a").matmul(Required("lokr_w1_b"));
        var w2 = Factor("lokr_w2") ?? (Factor("lokr_t2") is { } t2
            ? Tucker(t2, Required("lokr_w2_a"), Required("lokr_w2_b"))
            : Required("lokr_w2_a").matmul(Required("lokr_w2_b").flatten(1)));
        // make_kron: a 4-d w2 (conv kernel) takes w1 as [a, c, 1, 1], so the kernel stays w2's.
        for (long i = w1.dim(); i < w2.dim(); i++) w1 = w1.unsqueeze(-1);
        return w1.kron(w2.contiguous()).reshape(weightShape).MoveToOuterDisposeScope();
    }

    internal static long[]? Shape(IReadOnlyDictionary<string, long[]> s)
    {
        long[]? w1 = s.TryGetValue("lokr_w1", out var whole1) ? whole1
            : s["lokr_w1_a"] is var a1 && s["lokr_w1_b"] is var b1 && a1.Length == 2 && b1.Length == 2 && a1[1] == b1[0] ? [a1[0], b1[1]] : null;
        long[]? w2;
        if (s.TryGetValue("lokr_w2", out var whole2)) w2 = whole2;
        else
        {
            var (a, b) = (s["lokr_w2_a"], s["lokr_w2_b"]);
            if (s.TryGetValue("lokr_t2", out var t))   // a [r, out2], b [r', in2], t [r, r', kh, kw]
                w2 = a.Length == 2 && b.Length == 2 && t.Length == 4 && t[0] == a[0] && t[1] == b[0] ? [a[1], b[1], t[2], t[3]] : null;
            else
                w2 = a.Length == 2 && b.Length >= 2 && a[1] == b[0] ? [a[0], b[1..].Aggregate(1L, (x, y) => x * y)] : null;
        }
        if (w1 is null || w2 is null || w1.Length != 2 || w2.Length is not (2 or 4)) return null;
        return w2.Length == 4 ? [w1[0] * w2[0], w1[1] * w2[1], w2[2], w2[3]] : [w1[0] * w2[0], w1[1] * w2[1]];
    }
}
