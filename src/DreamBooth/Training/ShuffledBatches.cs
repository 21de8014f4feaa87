// Mirrors how diffusers' DreamBooth scripts draw their batches: torch.utils.data.DataLoader(shuffle=True,
// num_workers=0) with a RandomSampler, iterated through accelerate 0.28's DataLoaderShard, which fetches one batch
// ahead to know when the epoch ends. Every draw comes from torch's global generator, in the script's order.
namespace DreamBooth.Training;

using TorchSharp;
using static TorchSharp.torch;

/// <summary>A fetched batch: its example indices and the random choices (flip, crop) already drawn for them.</summary>
public sealed record FetchedBatch(int[] Examples, ExampleChoice[] Choices);

/// <summary>
/// Where the loader stands between two steps: the epoch in progress (0-based; -1 before the first), its example
/// order, the index of the batch fetched ahead and that batch. Saved in checkpoints: the batch fetched ahead has
/// already consumed its draws, so a resumed run must reuse it rather than draw it again.
/// </summary>
public sealed record LoaderState(int Epoch, int[] Order, int AheadIndex, FetchedBatch? Ahead)
{
    public static LoaderState Start => new(-1, [], 0, null);
}

/// <summary>
/// Per epoch: <c>iter(dataloader)</c> draws the workers' base seed (an int64, unused without workers); the sampler
/// draws its own int64 seed and shuffles with <c>torch.randperm(n)</c> on a private generator seeded with it; then
/// batch 0 is fetched (its examples' random crops/flips drawn), and before batch k is handed out batch k+1 is fetched.
/// With aspect buckets (<paramref name="bucketOf"/>) a batch holds examples of one bucket only: the shuffled order is
/// walked and each example joins its bucket's open batch, which is handed out when full; the partly filled ones follow
/// at the end of the epoch. One bucket gives exactly the plain batches, and no extra draw is made.
/// </summary>
public sealed class ShuffledBatches(int count, int batchSize, Func<int, ExampleChoice> choose, Func<int, (int, int)>? bucketOf = null)
{
    // Batches per epoch: Σ over buckets of ⌈examples / batch size⌉, the same for every order.
    private readonly int batches = bucketOf is null ? (count + batchSize - 1) / batchSize
        : Enumerable.Range(0, count).GroupBy(bucketOf).Sum(g => (g.Count() + batchSize - 1) / batchSize);

    public LoaderState State { get; set; } = LoaderState.Start;

    /// <summary>The next batch and whether it is the epoch's last (accelerate then syncs gradients whatever the count).</summary>
    public (FetchedBatch Batch, bool EndOfEpoch) Next()
    {
        var s = State;
        if (s.Ahead is null)
        {
            DrawInt64();                                      // _BaseDataLoaderIter._base_seed
            var order = Permutation(count, DrawInt64());      // RandomSampler.__iter__
            s = new LoaderState(s.Epoch + 1, order, 0, Fetch(order, 0));
        }
        int next = s.AheadIndex + 1;
        var ahead = next < batches ? Fetch(s.Order, next) : null;
        State = s with { AheadIndex = next, Ahead = ahead };
        return (s.Ahead!, ahead is null);
    }

    /// <summary>Why <paramref name="s"/> (read from a checkpoint) cannot belong to this loader, or null.</summary>
    public string? Problem(LoaderState? s)
    {
        if (s is null || s.Order is null) return "the data loader position is missing";
        if (s.Epoch < -1) return $"epoch {s.Epoch} is negative";
        if (s.Epoch >= 0 && (s.Order.Length != count || s.Order.Distinct().Count() != count || s.Order.Any(i => i < 0 || i >= count)))
            return $"the example order is not a permutation of the {count} examples";
        if (s.AheadIndex < 0 || s.AheadIndex > batches) return $"batch index {s.AheadIndex} is out of range";
        if (s.Ahead is { } ahead && (ahead.Examples is null || ahead.Choices is null || ahead.Examples.Length != ahead.Choices.Length
                                     || ahead.Examples.Any(i => i < 0 || i >= count)))
            return "the batch fetched ahead names examples out of range";
        return null;
    }

    private FetchedBatch Fetch(int[] order, int batch)
    {
        var examples = bucketOf is null ? order.Skip(batch * batchSize).Take(batchSize).ToArray() : Grouped(order)[batch];
        return new FetchedBatch(examples, examples.Select(choose).ToArray());
    }

    private (int[] Order, List<int[]> Batches)? grouped;

    // The epoch's one-bucket batches, built once per order.
    private List<int[]> Grouped(int[] order)
    {
        if (grouped is { } g && ReferenceEquals(g.Order, order)) return g.Batches;
        var result = new List<int[]>();
        var open = new Dictionary<(int, int), List<int>>();
        var opened = new List<(int, int)>();
        foreach (var example in order)
        {
            var key = bucketOf!(example);
            if (!open.TryGetValue(key, out var list))
            {
                open[key] = list = [];
                opened.Add(key);
            }
            list.Add(example);
            if (list.Count < batchSize) continue;
            result.Add([.. list]);
            list.Clear();
        }
        result.AddRange(opened.Where(k => open[k].Count > 0).Select(k => open[k].ToArray()));
        grouped = (order, result);
        return result;
    }

    /// <summary><c>torch.empty((), dtype=torch.int64).random_()</c>: 64 random bits (first word high) mod 2^63.</summary>
    public static long DrawInt64()
    {
        // randint over [-2^62, 2^62) spans 2^63 values, so libtorch draws 64 bits and reduces them mod 2^63 exactly
        // like random_(); shifting back by 2^62 gives the same number (TorchSharp has no argument-free random_).
        using var t = randint(-(1L << 62), 1L << 62, [1], ScalarType.Int64);
        return t.item<long>() + (1L << 62);
    }

    /// <summary><c>torch.randperm(n, generator=torch.Generator().manual_seed(seed))</c>.</summary>
    public static int[] Permutation(int n, long seed)
    {
        using var generator = new Generator((ulong)seed, CPU);
        using var perm = randperm(n, ScalarType.Int64, CPU, generator: generator);
        return perm.data<long>().Select(v => (int)v).ToArray();
    }
}
