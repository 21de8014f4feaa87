namespace DreamBooth.Tests.Lora;

using DreamBooth.Lora;
using DreamBooth.Models.Unets;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>kohya names (diffusers-style and LDM/SGM-style blocks) resolve on the full-size UNets without ambiguity.</summary>
public sealed class LoraKohyaNameTests(ITestOutputHelper output) : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("lora-kohya-names-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData("sd15")]
    [InlineData("sd21")]
    [InlineData("sdxl")]
    public void LoraLoader_KohyaNamesForEveryLinear_ResolveToTheirModules(string model)
    {
        using var scope = NewDisposeScope();
        var config = UNet2DConditionConfig.Load(Fixtures.Path("manifests", model, "unet", "config.json"));
        using var unet = new UNet2DConditionModel(config, META);
        var layout = new DreamBooth.Loading.LdmUnetLayout(config.LayersPerBlock[0], [.. config.UpBlockTypes.Select(t => t == "CrossAttnUpBlock2D")]);
        var linears = unet.named_modules().Where(m => m.module is TorchSharp.Modules.Linear)
                          .Select(m => (Path: m.name, Weight: ((TorchSharp.Modules.Linear)m.module).weight.shape)).ToList();

        // Alternate diffusers-style (lora_unet_down_blocks_…) and LDM-style (lora_unet_input_blocks_…) names; rank 1.
        var tensors = new Dictionary<string, Tensor>();
        var expected = new Dictionary<string, string>();
        for (int i = 0; i < linears.Count; i++)
        {
            var (path, w) = linears[i];
            var name = i % 2 == 0 ? path : DreamBooth.Loading.LdmKeyMap.UnetToLdm(path + ".weight", layout)[..^".weight".Length];
            var key = "lora_unet_" + name.Replace('.', '_');
            tensors[key + ".lora_down.weight"] = zeros(1, w[1]);
            tensors[key + ".lora_up.weight"] = zeros(w[0], 1);
            tensors[key + ".alpha"] = tensor(1L);
            expected[key + ".lora_down.weight"] = path;
        }
        var file = Path.Combine(dir, $"{model}.safetensors");
        DreamBooth.IO.SafeTensorsWriter.Write(file, tensors);

        using var lora = LoraFile.Open(file);
        var mapped = LoraLoader.Resolve(new LoraTargets(unet), lora);
        Assert.Equal(linears.Count, mapped.Count);
        Assert.All(mapped, m => Assert.Equal(expected[m.Entry.Key], m.ModulePath));
        output.WriteLine($"{model}: {mapped.Count} Linear modules resolved from kohya names (half LDM-style)");
    }
}
