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
    public void SaveLoad_File_RestoresTheGlobalGeneratorWithItsCachedNormal()
    {
        var dir = Directory.CreateTempSubdirectory("rng-");
        try
        {
            manual_seed(3);
            // A 3-element randn takes the scalar Box-Muller path, which leaves a cached normal sample behind.
            using (var skip = randn(3)) { }
            var path = Path.Combine(dir.FullName, "rng.json");
            RngState.Capture().Save(path);
            using var a1 = randn(3);
            using var a2 = rand(4);

            manual_seed(0);
            RngState.Load(path).Restore();
            using var b1 = randn(3);
            using var b2 = rand(4);
            Assert.True(TensorAssert.Same(a1, b1));
            Assert.True(TensorAssert.Same(a2, b2));
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void Load_EmptyOrCorruptFile_IsAUserError()
    {
        var dir = Directory.CreateTempSubdirectory("rng-");
        try
        {
            var path = Path.Combine(dir.FullName, "rng.json");
            File.WriteAllText(path, "{}");
            Assert.Throws<DreamBoothException>(() => RngState.Load(path));
            File.WriteAllText(path, "{\"TorchCpu\": 5");
            Assert.Throws<DreamBoothException>(() => RngState.Load(path));
        }
        finally { dir.Delete(true); }
    }
}
