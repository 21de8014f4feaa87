namespace DreamBooth.Tests.IO;

using DreamBooth.IO;
using static TorchSharp.torch;

public sealed class SafeTensorsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("st-tests").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    public static TheoryData<string> Kinds() => new(MalformedSafeTensors.Corpus().Select(c => c.Kind));

    [Fact]
    public void Corpus_HasAtLeastTwentyKinds() => Assert.True(MalformedSafeTensors.Corpus().Count() >= 20);

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Open_MalformedFile_ClearErrorAndBoundedMemory(string kind)
    {
        var (_, bytes, expect) = MalformedSafeTensors.Corpus().Single(c => c.Kind == kind);
        var path = Path.Combine(dir, "bad.safetensors");
        File.WriteAllBytes(path, bytes);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains(expect, e.Message);
        Assert.StartsWith(path + ": not a valid .safetensors file", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.True(e.Message.Length < path.Length + 400, $"{kind}: a {e.Message.Length}-character message");
        Assert.True(allocated < 16 << 20, $"{kind}: allocated {allocated} bytes");
    }

    [Fact]
    public void WriteThenRead_AllDtypes_RoundTripWithMetadata()
    {
        TorchSharp.torch.manual_seed(1);
        var tensors = new Dictionary<string, Tensor>
        {
            ["f64"] = randn(3, 2, dtype: ScalarType.Float64),
            ["f32"] = randn(4),
            ["f16"] = randn(2, 3).to(ScalarType.Float16),
            ["bf16"] = randn(5).to(ScalarType.BFloat16),
            ["i64"] = arange(6, dtype: ScalarType.Int64).reshape(2, 3),
            ["i32"] = arange(3, dtype: ScalarType.Int32),
            ["i16"] = arange(3, dtype: ScalarType.Int16),
            ["i8"] = arange(-2, 2, dtype: ScalarType.Int8),
            ["u8"] = arange(250, 256, dtype: ScalarType.Byte),
            ["bool"] = tensor(new[] { true, false, true }),
            ["scalar"] = tensor(7L),
            ["empty"] = zeros(0, 3),
        };
        var path = Path.Combine(dir, "all.safetensors");
        SafeTensorsWriter.Write(path, tensors, new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ü" });
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("ü", file.Metadata["note"]);
        Assert.Equal(tensors.Keys.Order(), file.Tensors.Select(t => t.Name).Order());
        foreach (var (name, expected) in tensors)
        {
            using var actual = file.Read(name);
            Assert.Equal(expected.dtype, actual.dtype);
            Assert.Equal(expected.shape, actual.shape);
            Assert.True(expected.to(ScalarType.Float64).equal(actual.to(ScalarType.Float64)).all().item<bool>(), name);
        }
        var headerLength = BitConverter.ToUInt64(File.ReadAllBytes(path).AsSpan(0, 8));
        Assert.Equal(0UL, headerLength % 8);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp-*"));
    }

    [Fact]
    public void ReadInto_ConvertsDtypeAndChecksShape()
    {
        var path = Path.Combine(dir, "x.safetensors");
        using var src = arange(6, dtype: ScalarType.Float32).reshape(2, 3);
        SafeTensorsWriter.Write(path, new Dictionary<string, Tensor> { ["x"] = src });
        using var file = SafeTensorsFile.Open(path);
        using var target = zeros(2, 3, dtype: ScalarType.Float64);
        file.ReadInto("x", target);
        Assert.Equal(15.0, target.sum().item<double>());
        using var wrong = zeros(3, 2);
        var e = Assert.Throws<DreamBoothException>(() => file.ReadInto("x", wrong));
        Assert.Contains("has shape [2, 3] but the model expects [3, 2]", e.Message);
    }

    [Fact]
    public void Open_FixtureFiles_MatchAnIndependentHeaderCount()
    {
        // sd15-tiny's reference file: every tensor parsed, offsets tile the buffer exactly.
        using var file = SafeTensorsFile.Open(Fixtures.Path("sd15-tiny", "unet", "diffusion_pytorch_model.safetensors"));
        Assert.Equal(1_388_548, file.Tensors.Sum(t => t.Numel));
    }
}
