namespace DreamBooth.Training;

using System.Numerics;

/// <summary>A <see cref="Random"/> whose state can be saved and restored, for a data order that resumes exactly
/// (System.Random's own state is not accessible). Generator: xoshiro256** seeded through SplitMix64.</summary>
public sealed class ResumableRandom : Random
{
    private ulong s0, s1, s2, s3;

    public ResumableRandom(long seed)
    {
        ulong x = unchecked((ulong)seed);
        s0 = SplitMix(ref x);
        s1 = SplitMix(ref x);
        s2 = SplitMix(ref x);
        s3 = SplitMix(ref x);
    }

    /// <summary>The four 64-bit state words.</summary>
    public ulong[] GetState() => [s0, s1, s2, s3];

    public void SetState(IReadOnlyList<ulong> state)
    {
        if (state.Count != 4) throw new DreamBoothException($"A data-order RNG state has 4 words, not {state.Count}.");
        if (state.All(w => w == 0)) throw new DreamBoothException("A data-order RNG state cannot be all zeros.");
        (s0, s1, s2, s3) = (state[0], state[1], state[2], state[3]);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = BitOperations.RotateLeft(s1 * 5, 7) * 9;
        ulong t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = BitOperations.RotateLeft(s3, 45);
        return result;
    }

    public override int Next() => NextInt32Below(int.MaxValue);

    public override int Next(int maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxValue);
        return maxValue <= 1 ? 0 : NextInt32Below(maxValue);
    }

    public override int Next(int minValue, int maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minValue, maxValue);
        return (int)(minValue + (long)NextInt64Below((ulong)((long)maxValue - minValue)));
    }

    public override long NextInt64() => (long)NextInt64Below(long.MaxValue);

    public override long NextInt64(long maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxValue);
        return (long)NextInt64Below((ulong)maxValue);
    }

    public override long NextInt64(long minValue, long maxValue)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minValue, maxValue);
        return unchecked(minValue + (long)NextInt64Below((ulong)(maxValue - minValue)));
    }

    /// <summary>53 random bits in [0, 1).</summary>
    public override double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public override float NextSingle() => (NextUInt64() >> 40) * (1.0f / (1U << 24));

    public override void NextBytes(byte[] buffer) => NextBytes(buffer.AsSpan());

    public override void NextBytes(Span<byte> buffer)
    {
        while (buffer.Length >= 8)
        {
            BitConverter.TryWriteBytes(buffer, NextUInt64());
            buffer = buffer[8..];
        }
        if (buffer.Length > 0)
        {
            Span<byte> last = stackalloc byte[8];
            BitConverter.TryWriteBytes(last, NextUInt64());
            last[..buffer.Length].CopyTo(buffer);
        }
    }

    protected override double Sample() => NextDouble();

    private int NextInt32Below(int bound) => (int)NextInt64Below((ulong)bound);

    // Unbiased integer in [0, bound) by rejection (bound 0 gives 0).
    private ulong NextInt64Below(ulong bound)
    {
        if (bound <= 1) return 0;
        ulong limit = ulong.MaxValue - ulong.MaxValue % bound;
        ulong r;
        do r = NextUInt64(); while (r >= limit);
        return r % bound;
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
