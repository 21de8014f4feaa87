namespace DreamBooth.Tests.Lora;

using System.Text.Json.Nodes;
using DreamBooth.IO;
using DreamBooth.Lora;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>Files written from the fixture's in-memory adapter against the fixture's own files.</summary>
public sealed class LoraWriterTests(ITestOutputHelper output) : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("lora-writer-").FullName;

    public static TheoryData<string> Pipelines => new(Fixtures.Pipelines);

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [MemberData(nameof(Pipelines))]
    public void LoraWriter_Diffusers_EqualsFixtureFileAndKeepsAlpha(string pipeline)
    {
        using var scope = NewDisposeScope();
        using var unet = AdaptedUnet(pipeline);
        var path = Path.Combine(dir, LoraWriter.DiffusersFileName);
        LoraWriter.Write(path, new LoraTargets(unet));

        using (var written = SafeTensorsFile.Open(path))
        using (var fixture = SafeTensorsFile.Open(LoraFixture.DiffusersFile(pipeline)))
        {
            // Same names, dtypes and shapes in the same layout order, and identical values.
            Assert.Equal(fixture.Tensors.Select(t => (t.Name, t.Dtype, string.Join(",", t.Shape))),
                         written.Tensors.Select(t => (t.Name, t.Dtype, string.Join(",", t.Shape))));
            foreach (var t in fixture.Tensors) Assert.True(Same(fixture.Read(t.Name), written.Read(t.Name)), t.Name);

            var config = JsonNode.Parse(written.Metadata["lora_adapter_metadata"])!;
            Assert.Equal("pt", written.Metadata["format"]);
            Assert.Equal(4, (int)config["unet.r"]!);
            Assert.Equal(32.0, (double)config["unet.lora_alpha"]!);
            Assert.Equal(["to_k", "to_out.0", "to_q", "to_v"], config["unet.target_modules"]!.AsArray().Select(t => (string)t!));
        }

        // Our metadata carries alpha 32, so reloading needs no alpha from the caller to get scale 8.
        using var reference = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        using var fresh = LoraFixture.LoadUnet(pipeline);
        Assert.All(LoraLoader.Apply(new LoraTargets(fresh), path), m => Assert.Equal(8.0, m.Scale));
        LoraFixture.AssertClose(output, $"{pipeline} written diffusers file reloaded", reference.Read("lora.unet_out"), LoraFixture.RunUnet(fresh, reference));
    }

    [Theory]
    [MemberData(nameof(Pipelines))]
    public void LoraWriter_Kohya_MatchesFixtureNamingAndStoresTrueAlpha(string pipeline)
    {
        using var scope = NewDisposeScope();
        using var unet = AdaptedUnet(pipeline);
        var path = Path.Combine(dir, "kohya.safetensors");
        LoraWriter.Write(path, new LoraTargets(unet), format: LoraFileFormat.Kohya);

        using (var written = SafeTensorsFile.Open(path))
        using (var fixture = SafeTensorsFile.Open(LoraFixture.KohyaFile(pipeline)))
        {
            Assert.Equal(fixture.Tensors.Select(t => (t.Name, t.Dtype, string.Join(",", t.Shape))),
                         written.Tensors.Select(t => (t.Name, t.Dtype, string.Join(",", t.Shape))));
            foreach (var t in fixture.Tensors)
            {
                // diffusers' converter wrote alpha = rank = 4; we write the adapter's true alpha (32).
                var expected = t.Name.EndsWith(".alpha", StringComparison.Ordinal) ? tensor(32L) : fixture.Read(t.Name);
                Assert.True(Same(expected, written.Read(t.Name)), t.Name);
            }
            Assert.Equal("4", written.Metadata["ss_network_dim"]);
            Assert.Equal("32", written.Metadata["ss_network_alpha"]);
        }

        using var reference = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        using var fresh = LoraFixture.LoadUnet(pipeline);
        Assert.All(LoraLoader.Apply(new LoraTargets(fresh), path), m => Assert.Equal(8.0, m.Scale));
        LoraFixture.AssertClose(output, $"{pipeline} written kohya file reloaded", reference.Read("lora.unet_out"), LoraFixture.RunUnet(fresh, reference));
    }

    [Fact]
    public void LoraWriter_NoSuchAdapter_Throws()
    {
        using var unet = LoraFixture.LoadUnet("sd15-tiny");
        var e = Assert.Throws<DreamBoothException>(() => LoraWriter.Write(Path.Combine(dir, "x.safetensors"), new LoraTargets(unet)));
        Assert.Contains("No LoRA adapter named 'default'", e.Message);
    }

    private static bool Same(Tensor expected, Tensor actual) =>
        expected.dtype == actual.dtype && expected.shape.SequenceEqual(actual.shape) && expected.eq(actual).all().item<bool>();

    /// <summary>The fixture's in-memory adapter: injected r=4 alpha=32, A/B from the fixture file.</summary>
    private static DreamBooth.Models.Unets.UNet2DConditionModel AdaptedUnet(string pipeline)
    {
        var unet = LoraFixture.LoadUnet(pipeline);
        LoraInjector.Inject(unet, new LoraConfig { Rank = 4, Alpha = LoraFixture.Alpha });
        using var file = SafeTensorsFile.Open(LoraFixture.DiffusersFile(pipeline));
        foreach (var (path, layer) in LoraModel.Layers(unet))
            layer.LoadAdapterWeights("default", file.Read($"unet.{path}.lora.down.weight"), file.Read($"unet.{path}.lora.up.weight"));
        return unet;
    }
}
