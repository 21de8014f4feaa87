namespace DreamBooth.Tests.Lora;

using System.Text.RegularExpressions;
using DreamBooth.IO;
using DreamBooth.Loading;
using DreamBooth.Lora;
using DreamBooth.Models.Clip;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>
/// The other namings, made from the fixture's adapter by renaming its keys (peft + adapter_config.json, diffusers'
/// attention-processor names, kohya with LDM block names) or from adapters on text encoders and convolutions,
/// and the refusals.
/// </summary>
public sealed partial class LoraFileFormatTests(ITestOutputHelper output) : IDisposable
{
    private const string Pipeline = "sd15-tiny";
    private readonly string dir = Directory.CreateTempSubdirectory("lora-formats-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData("{\"r\": 4, \"lora_alpha\": 32, \"target_modules\": [\"to_q\", \"to_k\", \"to_v\", \"to_out.0\"]}")]
    [InlineData("{\"r\": 4, \"lora_alpha\": 4, \"alpha_pattern\": {\"to_q\": 32, \"to_k\": 32, \"to_v\": 32, \"to_out.0\": 32}}")]
    public void LoraLoader_PeftFileWithAdapterConfig_UsesConfigAlpha(string adapterConfig)
    {
        var path = Rewrite("adapter_model.safetensors", key => "base_model.model." + Module(key) + (key.EndsWith("down.weight") ? ".lora_A.weight" : ".lora_B.weight"));
        File.WriteAllText(Path.Combine(dir, "adapter_config.json"), adapterConfig);
        var mapped = AssertOutput(path, "lora.unet_out");
        Assert.All(mapped, m => Assert.Equal(8.0, m.Scale));
    }

    [Fact]
    public void LoraLoader_AttentionProcessorNames_LoadWithScaleOne()
    {
        // diffusers < 0.17: <attention>.processor.to_q_lora.down.weight, no "unet." prefix, to_out_lora for to_out.0.
        var path = Rewrite("legacy.safetensors", key =>
        {
            var m = AttentionModule().Match(Module(key));
            return $"{m.Groups[1].Value}.processor.{m.Groups[2].Value}_lora.{(key.EndsWith("down.weight") ? "down" : "up")}.weight";
        });
        using (var file = LoraFile.Open(path)) Assert.Equal("diffusers-attn-processor", file.Format);
        AssertOutput(path, "lora.unet_out_reloaded_diffusers");
    }

    [Fact]
    public void LoraLoader_KohyaWithLdmBlockNames_MapsThroughLdmKeyMap()
    {
        var layout = new LdmUnetLayout(2, [false, true, true]);   // sd15-tiny: layers_per_block 2, up blocks [Up, CrossAttnUp ×2]
        var path = Rewrite("ldm.safetensors", key =>
        {
            var ldm = LdmKeyMap.UnetToLdm(Module(key) + ".weight", layout)[..^".weight".Length];
            return $"lora_unet_{ldm.Replace('.', '_')}.{(key.EndsWith("down.weight") ? "lora_down" : "lora_up")}.weight";
        });
        using (var file = LoraFile.Open(path)) Assert.Contains(file.Entries, e => e.Module.StartsWith("input_blocks_1_1_transformer_blocks_0", StringComparison.Ordinal));
        AssertOutput(path, "lora.unet_out_reloaded_kohya");
    }

    [Theory]
    [InlineData(LoraFileFormat.Kohya, false)]
    [InlineData(LoraFileFormat.Diffusers, false)]
    [InlineData(LoraFileFormat.Diffusers, true)]
    public void LoraWriter_TextEncoderAdapter_RoundTripsThroughFile(LoraFileFormat format, bool processorNames)
    {
        using var scope = NewDisposeScope();
        var ids = tensor(new long[] { 49406, 320, 1125, 539, 49407, 49407 }).unsqueeze(0);
        using var encoder = CLIPTextModel.FromPretrained(Fixtures.Path(Pipeline, "text_encoder"));
        // Alpha = rank: diffusers' old processor naming has no alpha and loads with scale 1.
        LoraInjector.Inject(encoder, new LoraConfig { Rank = 4, Alpha = 4, TargetModules = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"] });
        RandomizeB(encoder);
        Tensor expected;
        using (no_grad()) expected = encoder.Encode(ids).LastHiddenState;

        var path = Path.Combine(dir, "te.safetensors");
        LoraWriter.Write(path, new LoraTargets(null, encoder), format: format);
        if (processorNames)   // text_encoder.<layer>.self_attn.to_q_lora.down.weight (MLP keeps .lora_linear_layer.)
            path = Rewrite(path, "te_old.safetensors", key => TextProcessor().Replace(key, m =>
                       $"self_attn.{(m.Groups[1].Value == "out" ? "to_out" : "to_" + m.Groups[1].Value)}_lora.{m.Groups[2].Value}.weight")
                       .Replace(".lora.down.", ".lora_linear_layer.down.", StringComparison.Ordinal)
                       .Replace(".lora.up.", ".lora_linear_layer.up.", StringComparison.Ordinal));
        using (var file = SafeTensorsFile.Open(path))
            Assert.All(file.Tensors, t => Assert.StartsWith(format == LoraFileFormat.Kohya ? "lora_te_text_model_" : "text_encoder.text_model.", t.Name));

        using var fresh = CLIPTextModel.FromPretrained(Fixtures.Path(Pipeline, "text_encoder"));
        var mapped = LoraLoader.Apply(new LoraTargets(null, fresh), path);
        Assert.Equal(encoder.Config.NumHiddenLayers * 6, mapped.Count);
        using (no_grad()) LoraFixture.AssertClose(output, $"text encoder via {format}", expected, fresh.Encode(ids).LastHiddenState, 1e-5);
    }

    [Fact]
    public void LoraWriter_SdxlBothTextEncoders_UsesTe1AndTe2Prefixes()
    {
        using var scope = NewDisposeScope();
        using var te1 = (nn.Module)CLIPTextEncoder.FromPretrained(Fixtures.Path("sdxl-tiny", "text_encoder"));
        using var te2 = (nn.Module)CLIPTextEncoder.FromPretrained(Fixtures.Path("sdxl-tiny", "text_encoder_2"));
        var config = new LoraConfig { TargetModules = ["q_proj", "v_proj"] };
        LoraInjector.Inject(te1, config);
        LoraInjector.Inject(te2, config);
        var path = Path.Combine(dir, "sdxl_te.safetensors");
        LoraWriter.Write(path, new LoraTargets(null, te1, te2), format: LoraFileFormat.Kohya);

        using var file = LoraFile.Open(path);
        Assert.Equal(["lora_te1_", "lora_te2_"], file.Entries.Select(e => e.Key[..9]).Distinct().Order());
        var mapped = LoraLoader.Resolve(new LoraTargets(null, te1, te2), file);
        Assert.Equal(file.Entries.Count / 2, mapped.Count(m => m.Component == LoraComponent.TextEncoder2));
        Assert.All(mapped, m => Assert.Equal(2.0, m.Scale));   // peft defaults: alpha 8, r 4
    }

    [Theory]
    [InlineData(LoraFileFormat.Kohya)]
    [InlineData(LoraFileFormat.Diffusers)]
    public void LoraWriter_ConvAdapters_RoundTripThroughFile(LoraFileFormat format)
    {
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path(Pipeline, "reference.safetensors"));
        using var unet = LoraFixture.LoadUnet(Pipeline);
        // SD 1.x proj_in/proj_out are 1×1 convs (kohya's default LoRA), conv1 is 3×3 (LoCon), time_emb_proj a Linear.
        var adapted = LoraInjector.Inject(unet, new LoraConfig { Rank = 2, Alpha = 3, TargetModules = ["proj_in", "proj_out", "conv1", "time_emb_proj"] });
        Assert.Contains(LoraModel.Layers(unet), l => l.Layer is LoraConv2d);
        RandomizeB(unet);
        var expected = LoraFixture.RunUnet(unet, reference);
        Assert.True((expected - reference.Read("unet.out")).abs().max().item<float>() > 1e-3);   // the adapters do something

        var path = Path.Combine(dir, "conv.safetensors");
        LoraWriter.Write(path, new LoraTargets(unet), format: format);
        using var fresh = LoraFixture.LoadUnet(Pipeline);
        var mapped = LoraLoader.Apply(new LoraTargets(fresh), path);
        Assert.Equal(adapted.Count, mapped.Count);
        Assert.All(mapped, m => Assert.Equal(1.5, m.Scale));
        LoraFixture.AssertClose(output, $"conv LoRA via {format}", expected, LoraFixture.RunUnet(fresh, reference), 1e-5);
    }

    [Theory]
    [InlineData("lycoris_unet_x.hada_w1_a", "not in kohya naming")]
    [InlineData("lora_unet_x.dora_scale", "DoRA")]
    [InlineData("lora_unet_x.lora_mid.weight", "Tucker")]
    [InlineData("model.diffusion_model.input_blocks.0.0.weight", "follows no known LoRA naming")]
    public void LoraFile_NotALoraFile_RefusedNamingTheFormat(string key, string expected)
    {
        var path = Path.Combine(dir, "odd.safetensors");
        SafeTensorsWriter.Write(path, new Dictionary<string, Tensor> { [key] = zeros(2, 2) });
        var e = Assert.Throws<DreamBoothException>(() => LoraFile.Open(path));
        output.WriteLine(e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void LoraLoader_FileForAnotherModel_NamesKeyAndBothShapes()
    {
        using var unet = LoraFixture.LoadUnet("sd2-tiny-v");
        var e = Assert.Throws<DreamBoothException>(() => LoraLoader.Apply(new LoraTargets(unet), LoraFixture.KohyaFile(Pipeline)));
        output.WriteLine(e.Message);
        Assert.Matches(@"LoRA key 'lora_unet_\S+' has shape \[\d+, \d+\] but '\S+' \(Linear \[\d+ → \d+\]\) needs \[\d+, \d+\]", e.Message);
    }

    [Fact]
    public void LoraLoader_TextEncoderWeightsWithoutTextEncoder_Throws()
    {
        var path = Rewrite("te_only.safetensors", key => key.Replace("unet.", "text_encoder.", StringComparison.Ordinal));
        using var unet = LoraFixture.LoadUnet(Pipeline);
        var e = Assert.Throws<DreamBoothException>(() => LoraLoader.Apply(new LoraTargets(unet), path));
        Assert.Contains("no text encoder was given", e.Message);
    }

    [Fact]
    public void LoraLoader_MultiplierAndSecondAdapter_Compose()
    {
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path(Pipeline, "reference.safetensors"));
        using var unet = LoraFixture.LoadUnet(Pipeline);
        // The same file twice at 0.5 each = once at 1.0 (the reloaded outputs have scale 1).
        LoraLoader.Apply(new LoraTargets(unet), LoraFixture.DiffusersFile(Pipeline), multiplier: 0.5, adapterName: "first");
        LoraLoader.Apply(new LoraTargets(unet), LoraFixture.KohyaFile(Pipeline), multiplier: 0.5, adapterName: "second");
        LoraFixture.AssertClose(output, "two halves", reference.Read("lora.unet_out_reloaded_diffusers"), LoraFixture.RunUnet(unet, reference));

        LoraModel.SetWeight(unet, "first", 8.0);
        LoraModel.SetEnabled(unet, "second", false);
        LoraFixture.AssertClose(output, "first at 8", reference.Read("lora.unet_out"), LoraFixture.RunUnet(unet, reference));
        LoraModel.DeleteAdapter(unet, "first");
        LoraModel.SetEnabled(unet, "second", true);
        LoraModel.SetWeight(unet, "second", 0.0);
        LoraFixture.AssertClose(output, "nothing", reference.Read("unet.out"), LoraFixture.RunUnet(unet, reference));
        Assert.All(LoraModel.AdapterParameters(unet), p => Assert.False(p.Parameter.requires_grad));
    }

    /// <summary>Writes the fixture's diffusers file (or <paramref name="source"/>) under new key names.</summary>
    private string Rewrite(string name, Func<string, string> rename) => Rewrite(LoraFixture.DiffusersFile(Pipeline), name, rename);

    private string Rewrite(string source, string name, Func<string, string> rename)
    {
        using var scope = NewDisposeScope();
        using var file = SafeTensorsFile.Open(source);
        var path = Path.Combine(dir, name);
        SafeTensorsWriter.Write(path, file.Tensors.ToDictionary(t => rename(t.Name), t => file.Read(t.Name)));
        return path;
    }

    // unet.<module>.lora.down.weight -> <module>
    private static string Module(string diffusersKey) =>
        diffusersKey["unet.".Length..diffusersKey.LastIndexOf(".lora.", StringComparison.Ordinal)];

    private IReadOnlyList<LoraModuleMapping> AssertOutput(string path, string expectedTensor)
    {
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path(Pipeline, "reference.safetensors"));
        using var unet = LoraFixture.LoadUnet(Pipeline);
        var mapped = LoraLoader.Apply(new LoraTargets(unet), path);
        Assert.Equal(88, mapped.Count);
        LoraFixture.AssertClose(output, $"{Path.GetFileName(path)} {expectedTensor}", reference.Read(expectedTensor), LoraFixture.RunUnet(unet, reference));
        return mapped;
    }

    private static void RandomizeB(nn.Module model)
    {
        using var noGrad = no_grad();
        var generator = new Generator(1234);
        foreach (var (_, layer) in LoraModel.Layers(model))
            foreach (var adapter in layer.Adapters)
                layer.B(adapter).copy_(randn(layer.B(adapter).shape, generator: generator) * 0.05);
    }

    [GeneratedRegex(@"^(.+)\.(to_q|to_k|to_v|to_out)(?:\.0)?$")]
    private static partial Regex AttentionModule();

    [GeneratedRegex(@"self_attn\.(q|k|v|out)_proj\.lora\.(down|up)\.weight$")]
    private static partial Regex TextProcessor();
}
