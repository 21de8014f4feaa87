namespace DreamBooth.Tests.Training;

using DreamBooth.IO;
using DreamBooth.Training;
using TorchSharp;
using static TorchSharp.torch;

[Collection(nameof(ProcessWideState))]
public sealed class RngStateTests
{
    [Fact]
    public void Restore_AfterOtherDraws_ContinuesTorchReferenceStream()
    {
        using var reference = SafeTensorsFile.Open(Fixtures.Path("rng", "reference.safetensors"));
        using var first = reference.Read("seed42.sequence_randn_first");
        using var second = reference.Read("seed42.sequence_randn_second");
        manual_seed(42);
        using var drawn = randn(1, 4, 16, 16);
        Assert.True(TensorAssert.Same(first, drawn), "torch's default CPU generator does not reproduce the reference draw");
        var state = RngState.Capture();
        manual_seed(7);
        using (var junk = randn(33)) { }
        state.Restore();
        using var resumed = randn(1, 4, 16, 16);
        Assert.True(TensorAssert.Same(second, resumed));
    }

    [Fact]
    public void SaveLoad_File_RestoresAllGenerators()
    {
        var dir = Directory.CreateTempSubdirectory("rng-");
        try
        {
            manual_seed(3);
            using (var skip = randn(5)) { } // leaves a cached normal sample in some sampler paths
            var noise = new Generator(11);
            using (var skip = rand(7, generator: noise)) { }
            var order = new ResumableRandom(99);
            order.Next(10);
            var gens = new Dictionary<string, Generator> { ["noise"] = noise };
            var path = Path.Combine(dir.FullName, "rng.json");
            RngState.Capture(order, gens).Save(path);

            using var a1 = randn(3);
            using var a2 = rand(4, generator: noise);
            var a3 = Enumerable.Range(0, 5).Select(_ => order.Next(1000)).ToArray();

            manual_seed(0);
            noise.manual_seed(0);
            var other = new ResumableRandom(1);
            RngState.Load(path).Restore(other, gens);
            using var b1 = randn(3);
            using var b2 = rand(4, generator: noise);
            var b3 = Enumerable.Range(0, 5).Select(_ => other.Next(1000)).ToArray();
            Assert.True(TensorAssert.Same(a1, b1));
            Assert.True(TensorAssert.Same(a2, b2));
            Assert.Equal(a3, b3);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Restore_GeneratorNotCaptured_Throws()
    {
        var state = RngState.Capture();
        var e = Assert.Throws<DreamBoothException>(() => state.Restore(generators: new Dictionary<string, Generator> { ["noise"] = new Generator(1) }));
        Assert.Contains("noise", e.Message);
        Assert.Throws<DreamBoothException>(() => state.Restore(new ResumableRandom(1)));
    }
}

public sealed class ResumableRandomTests
{
    [Fact]
    public void SetState_MidSequence_ReplaysShuffle()
    {
        var rng = new ResumableRandom(2024);
        rng.NextDouble();
        var saved = rng.GetState();
        int[] a = [.. Enumerable.Range(0, 50)];
        rng.Shuffle(a);
        var again = new ResumableRandom(0);
        again.SetState(saved);
        int[] b = [.. Enumerable.Range(0, 50)];
        again.Shuffle(b);
        Assert.Equal(a, b);
        Assert.NotEqual(Enumerable.Range(0, 50), a);
    }

    [Fact]
    public void Next_Bounded_CoversRangeUniformly()
    {
        var rng = new ResumableRandom(5);
        var counts = new int[10];
        for (int i = 0; i < 20_000; i++) counts[rng.Next(10)]++;
        Assert.All(counts, c => Assert.InRange(c, 1700, 2300));
        Assert.All(Enumerable.Range(0, 1000).Select(_ => rng.Next(-3, 4)), v => Assert.InRange(v, -3, 3));
        Assert.All(Enumerable.Range(0, 1000).Select(_ => rng.NextDouble()), v => Assert.InRange(v, 0.0, 0.9999999999));
    }

    [Fact]
    public void SameSeed_SameSequence_DifferentSeed_Differs()
    {
        var a = new ResumableRandom(1);
        var b = new ResumableRandom(1);
        var c = new ResumableRandom(2);
        var sa = Enumerable.Range(0, 8).Select(_ => a.NextInt64()).ToArray();
        Assert.Equal(sa, Enumerable.Range(0, 8).Select(_ => b.NextInt64()));
        Assert.NotEqual(sa, Enumerable.Range(0, 8).Select(_ => c.NextInt64()));
        Assert.Throws<DreamBoothException>(() => a.SetState([0UL, 0UL, 0UL, 0UL]));
    }
}
