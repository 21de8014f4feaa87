// Mirrors LyCORIS lycoris/functional/loha.py (diff_weight: make_weight / make_weight_tucker).
namespace DreamBooth.Lora;

using static TorchSharp.torch;

/// <summary>LoHa: ΔW = (w1_a @ w1_b) ⊙ (w2_a @ w2_b); with Tucker cores each side is rebuild_tucker(t, w_a, w_b).</summary>
public sealed class LoHaAdapter(IReadOnlyDictionary<string, Tensor> factors) : LycorisAdapter(nameof(LoHaAdapter), factors)
{
    /// <summary>The names a LoHa entry may have (t1 and t2 together or not at all).</summary>
    public static readonly string[] Names = ["hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2"];

    public override LoraAlgorithm Algorithm => LoraAlgorithm.LoHa;

    public override Tensor Delta(long[] weightShape)
    {
        var (t1, t2) = (Factor("hada_t1"), Factor("hada_t2"));
        Tensor Side(int i, Tensor? t) => t is null
            ? Required($"hada_w{i}_a").matmul(Required($"hada_w{i}_b").flatten(1))
            : Tucker(t, Required($"hada_w{i}_a"), Required($"hada_w{i}_b"));
        using var scope = NewDisposeScope();
        return (Side(1, t1) * Side(2, t2)).reshape(weightShape).MoveToOuterDisposeScope();
    }

    internal static long[]? Shape(IReadOnlyDictionary<string, long[]> s)
    {
        long[]? Side(int i)
        {
            var (a, b) = (s[$"hada_w{i}_a"], s[$"hada_w{i}_b"]);
            if (s.TryGetValue($"hada_t{i}", out var t))   // a [r, out], b [r', in], t [r, r', kh, kw]
                return a.Length == 2 && b.Length == 2 && t.Length == 4 && t[0] == a[0] && t[1] == b[0] ? [a[1], b[1], t[2], t[3]] : null;
            return a.Length == 2 && b.Length >= 2 && a[1] == b[0] ? [a[0], b[1..].Aggregate(1L, (x, y) => x * y)] : null;
        }
        var (one, two) = (Side(1), Side(2));
        return one is not null && two is not null && one.SequenceEqual(two) ? one : null;
    }
}
