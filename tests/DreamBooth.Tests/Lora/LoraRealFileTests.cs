namespace DreamBooth.Tests.Lora;

using DreamBooth.Lora;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unets;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>
/// Real LoRA files from ../shared/data/lora (not in the repository: several have no licence), mapped onto full-size
/// SD 1.5 models built on the META device from the fixture manifests' configs: every key must land on a module with
/// matching shapes, or the file must be refused with a message naming its format.
/// </summary>
public sealed class LoraRealFileTests(ITestOutputHelper output)
{
    [Theory]
    // file, component, modules, rank, scale (alpha / rank), where the alpha comes from
    [InlineData("diffusers_unet_prefix/pytorch_lora_weights.safetensors", LoraComponent.Unet, 128, 4, 1.0, "none (alpha = rank)")]
    [InlineData("diffusers_legacy_attn_processor/pytorch_lora_weights.safetensors", LoraComponent.Unet, 128, 4, 1.0, "none (alpha = rank)")]
    [InlineData("peft_unet/adapter_model.safetensors", LoraComponent.Unet, 96, 4, 4.0, "adapter_config.json")]
    [InlineData("peft_unet/pytorch_lora_weights.safetensors", LoraComponent.Unet, 96, 4, 4.0, "metadata")]
    [InlineData("peft_text_encoder/adapter_model.safetensors", LoraComponent.TextEncoder, 24, 8, 1.0, "adapter_config.json")]
    public void LoraLoader_RealFile_MapsOntoFullSizeSd15(string file, LoraComponent component, int modules, int rank, double scale,
                                                         string alphaSource)
    {
        var path = Fixtures.Shared("data", "lora", file);
        if (path is null)
        {
            output.WriteLine($"../shared/data/lora/{file} is absent: nothing to check.");
            return;
        }
        using var unet = new UNet2DConditionModel(UNet2DConditionConfig.Load(Fixtures.Path("manifests", "sd15", "unet", "config.json")), META);
        using var textEncoder = (nn.Module)CLIPTextEncoder.Create(CLIPTextConfig.Load(Fixtures.Path("manifests", "sd15", "text_encoder", "config.json")), META);
        using var lora = LoraFile.Open(path);

        var mapped = LoraLoader.Resolve(new LoraTargets(unet, textEncoder), lora);

        output.WriteLine($"{file}: format {lora.Format}, {mapped.Count} {component} modules, e.g. '{mapped[0].Entry.Key}' → '{mapped[0].ModulePath}'");
        Assert.Equal(lora.Entries.Count, mapped.Count);
        Assert.Equal(modules, mapped.Count);
        Assert.All(mapped, m => Assert.Equal(component, m.Component));
        Assert.All(mapped, m => Assert.Equal(rank, m.Rank));
        Assert.All(mapped, m => Assert.Equal(scale, m.Scale));
        var source = lora.AlphaSettings(component)?.Source;
        if (alphaSource.StartsWith("none", StringComparison.Ordinal)) Assert.Null(source);
        else Assert.Contains(alphaSource, source);
        // Every tensor of the file is used exactly once.
        var used = mapped.SelectMany(m => m.Entry.Keys).ToList();
        Assert.Equal(used.Count, used.Distinct().Count());
    }
}
