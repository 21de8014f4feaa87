namespace DreamBooth.Tests.Torch;

using DreamBooth.IO;
using DreamBooth.Torch;
using static TorchSharp.torch;

public sealed class RngTests
{
    [Theory]
    [InlineData("42", 42UL)]
    [InlineData(" 4294967303 ", 4294967303UL)]
    [InlineData("18446744073709551615", ulong.MaxValue)]
    [InlineData("-1", ulong.MaxValue)]                        // torch: manual_seed(-1) == manual_seed(2**64 - 1)
    [InlineData("-9223372036854775808", 9223372036854775808UL)]
    public void ParseSeed_TorchRange_TwosComplementForNegatives(string text, ulong expected) =>
        Assert.Equal(expected, Rng.ParseSeed(text));

    [Theory]
    [InlineData("seed")]
    [InlineData("1.5")]
    [InlineData("18446744073709551616")]
    public void ParseSeed_Invalid_ReadableError(string text) =>
        Assert.Contains("Invalid seed", Assert.Throws<DreamBoothException>(() => Rng.ParseSeed(text)).Message);

    [Fact]
    public void RandnTensor_CpuGenerator_EqualsTorchDraw()
    {
        using var reference = SafeTensorsFile.Open(Fixtures.Path("rng", "reference.safetensors"));
        using var expected = reference.Read("seed42.randn_2x4x8x8");
        using var g = Rng.CpuGenerator(Rng.ParseSeed("42"));
        using var actual = Rng.RandnTensor([2, 4, 8, 8], g, CPU);
        Assert.Equal(0, (expected - actual).abs().max().item<float>());
    }

    [Fact]
    public void RandnTensor_NoGenerator_UsesGlobalGenerator()
    {
        using var x = Rng.RandnTensor([3, 5], null, CPU, ScalarType.Float64);
        Assert.Equal(new long[] { 3, 5 }, x.shape);
        Assert.Equal(ScalarType.Float64, x.dtype);
    }
}
