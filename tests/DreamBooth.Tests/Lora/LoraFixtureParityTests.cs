namespace DreamBooth.Tests.Lora;

using DreamBooth.IO;
using DreamBooth.Lora;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>The lora.* tensors of the fixtures: the in-memory adapter, the two files reloaded as diffusers does, fusing.</summary>
public sealed class LoraFixtureParityTests(ITestOutputHelper output)
{
    public static TheoryData<string> Pipelines => new(Fixtures.Pipelines);

    [Theory]
    [MemberData(nameof(Pipelines))]
    public void LoraInjector_AdapterWithFileWeights_MatchesUnetOut(string pipeline)
    {
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        using var file = SafeTensorsFile.Open(LoraFixture.DiffusersFile(pipeline));
        using var unet = LoraFixture.LoadUnet(pipeline);

        var adapted = LoraInjector.Inject(unet, new LoraConfig { Rank = 4, Alpha = LoraFixture.Alpha });
        Assert.Equal(file.Tensors.Count / 2, adapted.Count);
        foreach (var (path, layer) in LoraModel.Layers(unet))
            layer.LoadAdapterWeights("default", file.Read($"unet.{path}.lora.down.weight"), file.Read($"unet.{path}.lora.up.weight"));

        LoraFixture.AssertClose(output, $"{pipeline} lora.unet_out", reference.Read("lora.unet_out"), LoraFixture.RunUnet(unet, reference));
    }

    [Theory]
    [MemberData(nameof(Pipelines))]
    public void LoraLoader_DiffusersFileWithAlpha32_MatchesUnetOut(string pipeline)
    {
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        using var unet = LoraFixture.LoadUnet(pipeline);
        var mapped = LoraLoader.Apply(new LoraTargets(unet), LoraFixture.DiffusersFile(pipeline), options: new LoraLoadOptions { Alpha = LoraFixture.Alpha });
        Assert.All(mapped, m => Assert.Equal(8.0, m.Scale));
        LoraFixture.AssertClose(output, $"{pipeline} lora.unet_out", reference.Read("lora.unet_out"), LoraFixture.RunUnet(unet, reference));
    }

    [Theory]
    [InlineData("sd15-tiny", "diffusers")]
    [InlineData("sd15-tiny", "kohya")]
    [InlineData("sd2-tiny-v", "diffusers")]
    [InlineData("sd2-tiny-v", "kohya")]
    [InlineData("sdxl-tiny", "diffusers")]
    [InlineData("sdxl-tiny", "kohya")]
    public void LoraLoader_FileLoadedLikeDiffusers_MatchesReloadedOutput(string pipeline, string format)
    {
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        using var unet = LoraFixture.LoadUnet(pipeline);
        var path = format == "kohya" ? LoraFixture.KohyaFile(pipeline) : LoraFixture.DiffusersFile(pipeline);

        var mapped = LoraLoader.Apply(new LoraTargets(unet), path);

        // diffusers' file has no alpha (alpha = rank); diffusers' kohya converter wrote alpha = rank: scale 1 either way.
        Assert.All(mapped, m => Assert.Equal(1.0, m.Scale));
        Assert.All(mapped, m => Assert.Equal(LoraComponent.Unet, m.Component));
        LoraFixture.AssertClose(output, $"{pipeline} lora.unet_out_reloaded_{format}", reference.Read($"lora.unet_out_reloaded_{format}"),
                                LoraFixture.RunUnet(unet, reference));
    }

    [Theory]
    [MemberData(nameof(Pipelines))]
    public void LoraModel_FuseAndUnfuse_MatchFusedOutputsAndRestoreWeights(string pipeline)
    {
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        using var unet = LoraFixture.LoadUnet(pipeline);
        LoraLoader.Apply(new LoraTargets(unet), LoraFixture.DiffusersFile(pipeline), options: new LoraLoadOptions { Alpha = LoraFixture.Alpha });
        const string probe = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";

        foreach (var (scale, name) in new[] { (1.0, "1_0"), (0.5, "0_5") })
        {
            var original = LoraModel.Layers(unet).ToDictionary(l => l.Path, l => l.Layer.BaseWeight.detach().clone());
            LoraModel.Fuse(unet, scale);
            Assert.All(LoraModel.Layers(unet), l => Assert.Equal([("default", scale * 8.0)], l.Layer.Merged));
            LoraFixture.AssertClose(output, $"{pipeline} lora.unet_out_fused_{name}", reference.Read($"lora.unet_out_fused_{name}"),
                                    LoraFixture.RunUnet(unet, reference));
            var fusedKey = $"lora.fused_{name}.{probe}.base_layer.weight";
            if (reference.Contains(fusedKey))   // recorded for the SD pipelines only
            {
                var layer = LoraModel.Layers(unet).Single(l => l.Path == probe).Layer;
                LoraFixture.AssertClose(output, $"{pipeline} {fusedKey}", reference.Read(fusedKey), layer.BaseWeight, 1e-6);
            }

            LoraModel.Unfuse(unet);
            // W + Δ − Δ in float32: back to W within one rounding of |W| + |Δ| per element (not bit-for-bit).
            foreach (var (path, layer) in LoraModel.Layers(unet))
            {
                var w = original[path];
                var bound = (w.abs() + layer.DeltaWeight("default", scale * 8.0).abs()) * Math.Pow(2, -23);
                Assert.True((layer.BaseWeight - w).abs().le(bound).all().item<bool>(), $"{path} not restored by Unfuse");
            }
            LoraFixture.AssertClose(output, $"{pipeline} unfused lora.unet_out", reference.Read("lora.unet_out"), LoraFixture.RunUnet(unet, reference));
        }
    }
}
