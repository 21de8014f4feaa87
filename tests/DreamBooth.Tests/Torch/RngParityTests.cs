namespace DreamBooth.Tests.Torch;

using DreamBooth.IO;
using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// TorchSharp's CPU generator against draws recorded with PyTorch 1.13 (tests/fixtures/rng, README section 5):
/// `--seed S` must reproduce `torch.Generator("cpu").manual_seed(S)` exactly.
/// </summary>
public sealed class RngParityTests
{
    public static TheoryData<ulong> Seeds => new() { 0UL, 42UL, 1234UL, (1UL << 32) + 7 };

    private static SafeTensorsFile Reference => LazyReference.Value;

    private static readonly Lazy<SafeTensorsFile> LazyReference = new(() =>
    {
        TorchRuntime.EnsureLoaded();
        return SafeTensorsFile.Open(Fixtures.Path("rng", "reference.safetensors"));
    });

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Randn_FreshGenerator_EqualsTorch(ulong seed)
    {
        foreach (var n in new long[] { 1, 7, 15, 16, 17, 64, 1000 })
        {
            using var g = new Generator(seed);
            using var actual = randn(new[] { n }, generator: g);
            AssertBitEqual($"seed{seed}.randn_{n}", actual);
        }
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Randn_LatentShape_EqualsTorch(ulong seed)
    {
        using var g = new Generator(seed);
        using var actual = randn(new long[] { 2, 4, 8, 8 }, generator: g);
        AssertBitEqual($"seed{seed}.randn_2x4x8x8", actual);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Randn_TwoConsecutiveDraws_EqualTorchStream(ulong seed)
    {
        using var g = new Generator(seed);
        using var first = randn(new long[] { 1, 4, 16, 16 }, generator: g);
        using var second = randn(new long[] { 1, 4, 16, 16 }, generator: g);
        AssertBitEqual($"seed{seed}.sequence_randn_first", first);
        AssertBitEqual($"seed{seed}.sequence_randn_second", second);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Rand_FreshGenerator_EqualsTorch(ulong seed)
    {
        using var g = new Generator(seed);
        using var actual = rand(new long[] { 10 }, generator: g);
        AssertBitEqual($"seed{seed}.rand_10", actual);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Randint_FreshGenerator_EqualsTorch(ulong seed)
    {
        using var g = new Generator(seed);
        using var actual = randint(0, 1000, new long[] { 16 }, generator: g);
        AssertBitEqual($"seed{seed}.randint_0_1000_16", actual);
    }

    private static void AssertBitEqual(string name, Tensor actual)
    {
        using var expected = Reference.Read(name);
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(expected.dtype, actual.dtype);
        using var diff = (expected.to(ScalarType.Float64) - actual.to(ScalarType.Float64)).abs().max();
        var d = diff.item<double>();
        Assert.True(d == 0, $"{name}: max |diff| = {d:G9}; expected[..4] {Show(expected)}, actual[..4] {Show(actual)}");
    }

    private static string Show(Tensor t) =>
        string.Join(", ", t.flatten().to(ScalarType.Float64).data<double>().Take(4).Select(v => v.ToString("G9")));
}
