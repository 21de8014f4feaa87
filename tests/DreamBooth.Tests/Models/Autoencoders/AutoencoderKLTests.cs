namespace DreamBooth.Tests.Models.Autoencoders;

using System.Text.Json.Nodes;
using DreamBooth.IO;
using DreamBooth.Loading;
using DreamBooth.Models.Autoencoders;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

public sealed class AutoencoderKLTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    public static TheoryData<string> Pipelines => new(Fixtures.Pipelines);

    [Theory]
    [MemberData(nameof(Pipelines))]
    public void Encode_TinyPipeline_MatchesDiffusers(string pipeline)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var vae = AutoencoderKL.FromPretrained(Fixtures.Path(pipeline, "vae"));
        using var refs = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        using var posterior = vae.Encode(refs.Read("vae.encode.input"));

        AssertClose(pipeline, "vae.encode.mean", posterior.Mean, refs);
        AssertClose(pipeline, "vae.encode.logvar", posterior.LogVar, refs);
        AssertClose(pipeline, "vae.encode.std", posterior.Std, refs);
        AssertClose(pipeline, "vae.encode.sample (stored noise)", posterior.Mean + posterior.Std * refs.Read("vae.encode.sample_noise"),
                    refs, "vae.encode.sample");

        // Sample(generator) draws like diffusers' randn_tensor from a CPU generator with the recorded seed.
        var seed = SampleSeed(pipeline);
        AssertClose(pipeline, "vae.encode.sample (generator)", posterior.Sample(new Generator(seed)), refs, "vae.encode.sample");
        AssertClose(pipeline, "vae.encode.sample_noise", randn(posterior.Mean.shape, generator: new Generator(seed)), refs);
        Assert.Equal(posterior.Mean.data<float>().ToArray(), posterior.Mode().data<float>().ToArray());
    }

    [Theory]
    [MemberData(nameof(Pipelines))]
    public void Decode_TinyPipeline_MatchesDiffusers(string pipeline)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var vae = AutoencoderKL.FromPretrained(Fixtures.Path(pipeline, "vae"));
        using var refs = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        AssertClose(pipeline, "vae.decode.output", vae.Decode(refs.Read("vae.decode.input")), refs);
    }

    [Theory]
    [MemberData(nameof(Pipelines))]
    public void Config_TinyPipeline_ReadsScalingAndDefaults(string pipeline)
    {
        using var vae = AutoencoderKL.FromPretrained(Fixtures.Path(pipeline, "vae"));
        var expectedScale = pipeline == "sdxl-tiny" ? 0.13025 : 0.18215;
        Assert.Equal(expectedScale, vae.ScalingFactor);
        Assert.Null(vae.ShiftFactor);
        Assert.True(vae.Config.UseQuantConv && vae.Config.UsePostQuantConv && vae.Config.ForceUpcast);
        Assert.Equal(32, vae.TileSampleMinSize);
        Assert.Equal(16, vae.TileLatentMinSize);   // 32 / 2^(2 levels - 1)
    }

    [Fact]
    public void FromPretrained_LegacyAttentionNames_LoadsIdentically()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var vaeDir = Fixtures.Path("sd15-tiny", "vae");
        var aliases = (JsonObject)Manifest("sd15")["deprecated_key_aliases"]!["map"]!;
        var legacyDir = Directory.CreateTempSubdirectory("vae-legacy-");
        try
        {
            // Rewrite the tiny VAE with the pre-0.14 names, using the manifest's table (not our own renaming).
            using (var file = SafeTensorsFile.Open(Path.Combine(vaeDir, "diffusion_pytorch_model.safetensors")))
            {
                var tensors = file.Tensors.ToDictionary(
                    t => aliases[t.Name]?.GetValue<string>() ?? t.Name, t => file.Read(t.Name));
                Assert.Equal(16, tensors.Keys.Count(k => k.Contains(".query.") || k.Contains(".key.") || k.Contains(".value.") || k.Contains(".proj_attn.")));
                SafeTensorsWriter.Write(Path.Combine(legacyDir.FullName, "diffusion_pytorch_model.safetensors"), tensors);
            }
            File.Copy(Path.Combine(vaeDir, "config.json"), Path.Combine(legacyDir.FullName, "config.json"));

            using var modern = AutoencoderKL.FromPretrained(vaeDir);
            using var legacy = AutoencoderKL.FromPretrained(legacyDir.FullName);
            using var refs = SafeTensorsFile.Open(Fixtures.Path("sd15-tiny", "reference.safetensors"));
            var x = refs.Read("vae.encode.input");
            var z = refs.Read("vae.decode.input");
            using var a = modern.Encode(x);
            using var b = legacy.Encode(x);
            Assert.Equal(0.0, (a.Parameters - b.Parameters).abs().max().item<float>());
            Assert.Equal(0.0, (modern.Decode(z) - legacy.Decode(z)).abs().max().item<float>());
        }
        finally
        {
            legacyDir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("encoder.mid_block.attentions.0.query.weight", "encoder.mid_block.attentions.0.to_q.weight")]
    [InlineData("decoder.mid_block.attentions.0.proj_attn.bias", "decoder.mid_block.attentions.0.to_out.0.bias")]
    [InlineData("decoder.mid_block.attentions.0.to_k.weight", "decoder.mid_block.attentions.0.to_k.weight")]
    [InlineData("encoder.down_blocks.0.resnets.0.conv1.weight", "encoder.down_blocks.0.resnets.0.conv1.weight")]
    [InlineData("query.weight", "query.weight")]
    public void LegacyKeys_RenameDeprecatedAttentionKey_RenamesOnlyAttentionLeaves(string key, string expected) =>
        Assert.Equal(expected, LegacyKeys.RenameDeprecatedAttentionKey(key));

    [Fact]
    public void Decode_Sliced_EqualsBatched()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var vae = AutoencoderKL.FromPretrained(Fixtures.Path("sd2-tiny-v", "vae"));
        using var refs = SafeTensorsFile.Open(Fixtures.Path("sd2-tiny-v", "reference.safetensors"));
        var z = refs.Read("vae.decode.input");
        var x = refs.Read("vae.encode.input");
        var batched = vae.Decode(z);
        using var batchedPosterior = vae.Encode(x);
        vae.UseSlicing = true;
        var sliced = vae.Decode(z);
        using var slicedPosterior = vae.Encode(x);
        Assert.True((batched - sliced).abs().max().item<float>() <= 1e-5);
        Assert.True((batchedPosterior.Parameters - slicedPosterior.Parameters).abs().max().item<float>() <= 1e-5);
    }

    [Fact]
    public void FromPretrained_Float64_ConvertsParametersAndStillMatches()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var vae = AutoencoderKL.FromPretrained(Fixtures.Path("sdxl-tiny", "vae"), dtype: ScalarType.Float64);
        Assert.All(vae.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));
        using var refs = SafeTensorsFile.Open(Fixtures.Path("sdxl-tiny", "reference.safetensors"));
        var decoded = vae.Decode(refs.Read("vae.decode.input").to(ScalarType.Float64));
        AssertClose("sdxl-tiny", "vae.decode.output (float64)", decoded.to(ScalarType.Float32), refs, "vae.decode.output");
    }

    [Fact]
    public void Config_UnsupportedBlockType_ThrowsNamingFileAndType()
    {
        var dir = Directory.CreateTempSubdirectory("vae-config-");
        try
        {
            var json = JsonNode.Parse(File.ReadAllText(Fixtures.Path("sd15-tiny", "vae", "config.json")))!.AsObject();
            json["up_block_types"] = new JsonArray("UpDecoderBlock2D", "AttnUpDecoderBlock2D");
            var path = Path.Combine(dir.FullName, "config.json");
            File.WriteAllText(path, json.ToJsonString());
            var e = Assert.Throws<DreamBoothException>(() => AutoencoderKLConfig.Load(path));
            Assert.Contains(path, e.Message);
            Assert.Contains("AttnUpDecoderBlock2D", e.Message);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Config_NoQuantConvs_OmitsTheirKeys()
    {
        var config = new AutoencoderKLConfig
        {
            BlockOutChannels = [8, 16], DownBlockTypes = ["DownEncoderBlock2D", "DownEncoderBlock2D"],
            UpBlockTypes = ["UpDecoderBlock2D", "UpDecoderBlock2D"], NormNumGroups = 4,
            UseQuantConv = false, UsePostQuantConv = false, ShiftFactor = 0.0609,
        };
        using var vae = new AutoencoderKL(config);
        Assert.DoesNotContain(vae.state_dict().Keys, k => k.Contains("quant_conv"));
        using var noGrad = no_grad();
        using var x = rand(1, 3, 16, 16) * 2 - 1;
        using var posterior = vae.Encode(x);
        Assert.Equal([1L, 4, 8, 8], posterior.Mean.shape);
        using var decoded = vae.Decode(posterior.Mean);
        Assert.Equal(x.shape, decoded.shape);
        Assert.Equal(0.0609, vae.ShiftFactor);
    }

    internal static JsonObject Manifest(string model) =>
        JsonNode.Parse(File.ReadAllText(Fixtures.Path("manifests", model, "vae", "manifest.json")))!.AsObject();

    private static ulong SampleSeed(string pipeline)
    {
        var json = JsonNode.Parse(File.ReadAllText(Fixtures.Path(pipeline, "reference.json")))!;
        return json["tensors"]!["vae.encode.sample"]!["args"]!["seed"]!.GetValue<ulong>();
    }

    private void AssertClose(string pipeline, string label, Tensor actual, SafeTensorsFile refs, string? key = null)
    {
        using var expected = refs.Read(key ?? label);
        Assert.Equal(expected.shape, actual.shape);
        var error = (actual - expected).abs().max().item<float>();
        output.WriteLine($"{pipeline} {label}: max abs error {error:E2}");
        Assert.True(error <= Tolerance, $"{pipeline} {label}: max abs error {error:E2} > {Tolerance:E0}");
    }
}

/// <summary>
/// Full-size SD 1.5 / 2.1 / XL VAEs built on the meta device (no weight memory) against diffusers' manifests.
/// Finding for TorchSharp 0.107: <c>torch.set_default_device(torch.META)</c> works for every module we build
/// (Conv2d, Linear, GroupNorm and their init calls give meta parameters, is_meta = true), but the default device is
/// process-wide, so these tests run in <see cref="MetaDeviceCollection"/> (alone, never beside other tests).
/// </summary>
[Collection(MetaDeviceCollection.Name)]
public sealed class AutoencoderKLFullSizeTests
{
    [Theory]
    [InlineData("sd15", 0.18215)]
    [InlineData("sd21", 0.18215)]
    [InlineData("sdxl", 0.13025)]
    public void FullSize_BuiltOnMeta_MatchesManifestKeysShapesAndCount(string model, double scaling)
    {
        var config = AutoencoderKLConfig.Load(Fixtures.Path("manifests", model, "vae", "config.json"));
        Assert.Equal(scaling, config.ScalingFactor);
        using var vae = MetaDevice.Build(() => new AutoencoderKL(config));
        var manifest = AutoencoderKLTests.Manifest(model);
        var expected = manifest["keys"]!.AsArray()
            .Select(k => (Name: k!["name"]!.GetValue<string>(), Shape: k["shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray()))
            .ToList();
        var state = vae.state_dict();

        Assert.Equal(expected.Select(e => e.Name), state.Keys);   // same keys, same order as diffusers
        foreach (var (name, shape) in expected)
            Assert.True(shape.SequenceEqual(state[name].shape), $"{name}: [{string.Join(",", state[name].shape)}], manifest [{string.Join(",", shape)}]");
        Assert.Equal(manifest["num_parameters"]!.GetValue<long>(), StateDictLoader.ParameterCount(vae));
        Assert.All(state.Values, t => Assert.True(t.is_meta && t.dtype == ScalarType.Float32));
    }
}
