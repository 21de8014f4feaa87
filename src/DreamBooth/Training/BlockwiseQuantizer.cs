// Mirrors bitsandbytes functional.create_dynamic_map and the default/CPU backends' quantize_blockwise / dequantize_blockwise
namespace DreamBooth.Training;

using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>8-bit block-wise quantization with a dynamic code book: each block of <c>blockSize</c> values is scaled
/// by its absolute maximum to [-1, 1] and every value is replaced by the index of the nearest code.</summary>
public sealed class BlockwiseQuantizer : IDisposable
{
    /// <summary>bitsandbytes' block size for optimizer state (older releases used 2048).</summary>
    public const int DefaultBlockSize = 256;

    private readonly Tensor bounds;

    public BlockwiseQuantizer(Tensor code, int blockSize = DefaultBlockSize)
    {
        if (blockSize <= 0) throw new ArgumentOutOfRangeException(nameof(blockSize));
        Code = code.to(ScalarType.Float32).contiguous().DetachFromDisposeScope();
        BlockSize = blockSize;
        // Midpoints between neighbouring codes: bucketize then yields the nearest code (ties go to the lower one).
        using var lower = Code.narrow(0, 0, Code.shape[0] - 1);
        using var upper = Code.narrow(0, 1, Code.shape[0] - 1);
        using var sum = Ops.Add(lower, upper);
        bounds = Ops.Div(sum, 2.0).DetachFromDisposeScope();
    }

    /// <summary>The sorted 256-entry code book.</summary>
    public Tensor Code { get; }

    public int BlockSize { get; }

    /// <summary>Number of scale factors a tensor of <paramref name="numel"/> elements needs.</summary>
    public long Blocks(long numel) => (numel + BlockSize - 1) / BlockSize;

    /// <summary>bitsandbytes' dynamic data type: a sign bit (if signed), a unary-coded decimal exponent 10^-6..10^0
    /// and a linear fraction whose width grows with the exponent; plus 0 and 1. 256 sorted values.</summary>
    public static Tensor CreateDynamicMap(bool signed, int maxExponentBits = 7, int totalBits = 8)
    {
        using var scope = NewDisposeScope();
        var data = new List<float>();
        int nonSignBits = totalBits - 1;
        int additionalItems = (1 << (nonSignBits - maxExponentBits)) - 1;
        double scale = 0;
        for (int i = 0; i < maxExponentBits; i++)
        {
            int fractionItems = signed
                ? (1 << (i + nonSignBits - maxExponentBits)) + 1
                : (1 << (i + nonSignBits - maxExponentBits + 1)) + 1;
            scale = Math.Pow(10, -(maxExponentBits - 1) + i);
            AddMeans(data, fractionItems, scale, signed);
        }
        if (additionalItems > 0) AddMeans(data, additionalItems + 1, scale, signed);
        data.Add(0f);
        data.Add(1f);
        if (data.Count != 1 << totalBits)
            throw new ArgumentException($"A dynamic map with {maxExponentBits} exponent bits does not have {1 << totalBits} codes.");
        while (data.Count < 256) data.Add(0f);
        data.Sort();
        return tensor(data.ToArray()).MoveToOuterDisposeScope();
    }

    // Midpoints of `count` float32 points evenly spaced over [0.1, 1], times ±scale (float32 arithmetic like torch).
    private static void AddMeans(List<float> data, int count, double scale, bool signed)
    {
        var boundaries = linspace(0.1, 1, count, ScalarType.Float32);
        var means = Ops.Div(Ops.Add(boundaries.narrow(0, 0, count - 1), boundaries.narrow(0, 1, count - 1)), 2.0);
        data.AddRange(Ops.Mul(means, scale).data<float>().ToArray());
        if (signed) data.AddRange(Ops.Mul(means, -scale).data<float>().ToArray());
    }

    /// <summary>Quantizes <paramref name="values"/> (any shape, any float dtype) into <paramref name="codes"/>
    /// (uint8, same number of elements) and <paramref name="absmax"/> (float32, one per block).</summary>
    public void Quantize(Tensor values, Tensor codes, Tensor absmax)
    {
        using var scope = NewDisposeScope();
        long n = values.NumberOfElements;
        if (codes.NumberOfElements != n || codes.dtype != ScalarType.Byte) throw new ArgumentException("codes must be uint8 with one entry per value.");
        if (absmax.NumberOfElements != Blocks(n) || absmax.dtype != ScalarType.Float32) throw new ArgumentException("absmax must be float32 with one entry per block.");
        if (n == 0) return;
        var flat = values.reshape(-1).to(ScalarType.Float32);
        long rem = n % BlockSize, full = n - rem, blocks = full / BlockSize;
        var parts = new List<Tensor>();
        var scales = new List<Tensor>();
        if (blocks > 0)
        {
            var block = flat.narrow(0, 0, full).view(blocks, BlockSize);
            var max = block.abs().amax([1L]);
            // x * (1 / absmax) as bitsandbytes writes it (a reciprocal then a multiply, not a division).
            var inv = Ops.ClampMin(max, 1e-38).reciprocal().view(-1, 1);
            parts.Add(Ops.Clamp(block * inv, -1, 1).view(-1));
            scales.Add(max);
        }
        if (rem > 0)
        {
            var tail = flat.narrow(0, full, rem);
            var max = Ops.ClampMin(tail.abs().max(), 1e-38);
            parts.Add(Ops.Clamp(tail / max, -1, 1));
            scales.Add(max.unsqueeze(0));
        }
        var scaled = parts.Count == 1 ? parts[0] : cat(parts, 0);
        var index = bucketize(scaled, bounds, outInt32: true);
        codes.view(-1).copy_(index);
        absmax.copy_(scales.Count == 1 ? scales[0] : cat(scales, 0));
    }

    /// <summary>code[codes] × absmax of each element's block, as a new float32 tensor of <paramref name="codes"/>' shape.</summary>
    public Tensor Dequantize(Tensor codes, Tensor absmax)
    {
        using var scope = NewDisposeScope();
        long n = codes.NumberOfElements;
        var values = Code.index_select(0, codes.reshape(-1).to(ScalarType.Int64));
        long rem = n % BlockSize, full = n - rem, blocks = full / BlockSize;
        Tensor result;
        if (rem == 0)
            result = (values.view(blocks, BlockSize) * absmax.view(-1, 1)).view(-1);
        else
        {
            var head = (values.narrow(0, 0, full).view(blocks, BlockSize) * absmax.narrow(0, 0, blocks).view(-1, 1)).view(-1);
            var tail = values.narrow(0, full, rem) * absmax[blocks];
            result = cat([head, tail], 0);
        }
        return result.view(codes.shape).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        Code.Dispose();
        bounds.Dispose();
    }
}
