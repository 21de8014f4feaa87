// Mirrors bitsandbytes optim.AdamW8bit (Optimizer2State, block-wise 8-bit state; CPU backend's update order)
namespace DreamBooth.Training;

using System.Globalization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

/// <summary>AdamW whose moments are stored in 8 bits: m with the signed and v with the unsigned dynamic map, each
/// block of 256 values with its own float32 absmax (≈ 2 bytes per parameter + 8 bytes per block instead of 8 bytes
/// per parameter). Each step dequantizes to float32, does the AdamW update (decoupled weight decay first, as
/// bitsandbytes' CPU backend does) and re-quantizes. Parameters with fewer than <see cref="MinEightBitSize"/>
/// elements keep float32 moments and use plain AdamW, as bitsandbytes does (min_8bit_size).</summary>
public sealed class AdamW8bit : OptimizerBase
{
    private readonly BlockwiseQuantizer signedMap;
    private readonly BlockwiseQuantizer unsignedMap;
    private readonly Slot?[] slots;

    public AdamW8bit(IEnumerable<(string Name, Parameter Parameter)> parameters, AdamWOptions? options = null,
        int minEightBitSize = 4096, int blockSize = BlockwiseQuantizer.DefaultBlockSize)
        : base(parameters, options)
    {
        if (minEightBitSize < 0) throw new DreamBoothException($"min 8-bit size must be 0 or more, not {minEightBitSize}.");
        MinEightBitSize = minEightBitSize;
        using (var code = BlockwiseQuantizer.CreateDynamicMap(signed: true)) signedMap = new BlockwiseQuantizer(code, blockSize);
        using (var code = BlockwiseQuantizer.CreateDynamicMap(signed: false)) unsignedMap = new BlockwiseQuantizer(code, blockSize);
        slots = new Slot?[Parameters.Count];
    }

    public AdamW8bit(IEnumerable<Parameter> parameters, AdamWOptions? options = null, int minEightBitSize = 4096)
        : this(ByIndex(parameters), options, minEightBitSize) { }

    public override string Kind => "AdamW8bit";

    public int MinEightBitSize { get; }

    public int BlockSize => signedMap.BlockSize;

    /// <summary>Whether parameter <paramref name="index"/> gets 8-bit state.</summary>
    public bool IsQuantized(int index) => Parameters[index].Parameter.NumberOfElements >= MinEightBitSize;

    protected override IReadOnlyDictionary<string, string> Layout => new Dictionary<string, string>
    {
        ["block_size"] = BlockSize.ToString(CultureInfo.InvariantCulture),
        ["min_8bit_size"] = MinEightBitSize.ToString(CultureInfo.InvariantCulture),
    };

    protected override void EnsureState(int index)
    {
        if (slots[index] is not null) return;
        var p = Parameters[index].Parameter;
        if (!IsQuantized(index))
        {
            slots[index] = new Slot([
                ("exp_avg", zeros_like(p).DetachFromDisposeScope()),
                ("exp_avg_sq", zeros_like(p).DetachFromDisposeScope())]);
            return;
        }
        long n = p.NumberOfElements, blocks = signedMap.Blocks(n);
        slots[index] = new Slot([
            ("state1", zeros(n, ScalarType.Byte, p.device).DetachFromDisposeScope()),
            ("state2", zeros(n, ScalarType.Byte, p.device).DetachFromDisposeScope()),
            ("absmax1", zeros(blocks, ScalarType.Float32, p.device).DetachFromDisposeScope()),
            ("absmax2", zeros(blocks, ScalarType.Float32, p.device).DetachFromDisposeScope())]);
    }

    protected override void ClearState(int index)
    {
        slots[index]?.Dispose();
        slots[index] = null;
    }

    protected override IReadOnlyList<(string Slot, Tensor Tensor)> StateTensors(int index) =>
        slots[index]?.Tensors ?? [];

    protected override void Update(int index, Parameter p, Tensor grad, long step)
    {
        var state = slots[index]!.Tensors;
        if (!IsQuantized(index))
        {
            AdamW.Apply(p, grad, state[0].Tensor, state[1].Tensor, step, LearningRate, Options);
            return;
        }
        var (codes1, codes2, absmax1, absmax2) = (state[0].Tensor, state[1].Tensor, state[2].Tensor, state[3].Tensor);
        using var scope = NewDisposeScope();
        // 1. dequantize the moments to float32 (flat).
        var m = signedMap.Dequantize(codes1, absmax1);
        var v = unsignedMap.Dequantize(codes2, absmax2);
        var g = grad.reshape(-1).to(ScalarType.Float32);
        // 2. the float32 AdamW update on a float32 view (or copy) of the parameter.
        bool direct = p.dtype == ScalarType.Float32 && p.is_contiguous();
        var target = direct ? p.view(-1) : p.reshape(-1).to(ScalarType.Float32);
        AdamW.Apply(target, g, m, v, step, LearningRate, Options);
        if (!direct) p.copy_(target.view(p.shape));
        // 3. re-quantize with fresh per-block absmax.
        signedMap.Quantize(m, codes1, absmax1);
        unsignedMap.Quantize(v, codes2, absmax2);
    }

    private sealed class Slot((string Slot, Tensor Tensor)[] tensors) : IDisposable
    {
        public (string Slot, Tensor Tensor)[] Tensors { get; } = tensors;

        public void Dispose()
        {
            foreach (var (_, t) in Tensors) t.Dispose();
        }
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (!disposing) return;
        signedMap.Dispose();
        unsignedMap.Dispose();
    }
}
