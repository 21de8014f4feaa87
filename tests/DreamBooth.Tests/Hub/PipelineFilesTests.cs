namespace DreamBooth.Tests.Hub;

using DreamBooth.Hub;
using DreamBooth.Loading;

public class PipelineFilesTests
{
    private static readonly ModelIndex Sd15Index = ModelIndex.Load(Fixtures.Path("sd15-tiny"));

    private static IReadOnlyList<string> Select(IEnumerable<string> files, PipelineFileOptions? options = null) =>
        PipelineFiles.Select("org/name", files.ToList(), Sd15Index, options ?? new PipelineFileOptions());

    [Fact]
    public void Select_Sd15WithDecoys_ConfigsTokenizerAndSafetensorsOnly()
    {
        var selected = Select(HubTestData.Sd15Needed.Concat(HubTestData.Decoys));

        Assert.Equal("model_index.json", selected[0]);
        Assert.Equal(HubTestData.Sd15Needed.Order(StringComparer.Ordinal), selected.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Select_Fp16_VariantPerComponentWithPlainFallback()
    {
        var files = HubTestData.Sd15Needed.Concat(["vae/diffusion_pytorch_model.fp16.safetensors", "unet/diffusion_pytorch_model.fp16.bin"]);

        var selected = Select(files, new PipelineFileOptions { Variant = "fp16" });

        Assert.Contains("vae/diffusion_pytorch_model.fp16.safetensors", selected);
        Assert.DoesNotContain("vae/diffusion_pytorch_model.safetensors", selected);
        Assert.Contains("unet/diffusion_pytorch_model.safetensors", selected);
        Assert.Contains("text_encoder/model.safetensors", selected);
    }

    [Theory]
    [InlineData("text_encoder/model.safetensors.index.fp16.json")] // diffusers/transformers naming
    [InlineData("text_encoder/model.fp16.safetensors.index.json")]
    public void Select_Fp16ShardedComponent_TakesVariantIndex(string index)
    {
        var files = HubTestData.Sd15Needed.Where(f => f != "text_encoder/model.safetensors").Concat([index, "text_encoder/model.safetensors.index.json"]);

        Assert.Contains(index, Select(files, new PipelineFileOptions { Variant = "fp16" }));
        Assert.Contains("text_encoder/model.safetensors.index.json", Select(files));
    }

    [Fact]
    public void Select_PicklesOnly_RefusedNamingTheFiles()
    {
        var files = HubTestData.Sd15Needed.Where(f => f != "unet/diffusion_pytorch_model.safetensors").Append("unet/diffusion_pytorch_model.bin");

        var error = Assert.Throws<HubException>(() => Select(files));

        Assert.Contains("'unet'", error.Message);
        Assert.Contains("unet/diffusion_pytorch_model.bin", error.Message);
    }

    [Fact]
    public void Select_ComponentFolderMissing_SaysWhich()
    {
        var error = Assert.Throws<HubException>(() => Select(HubTestData.Sd15Needed.Where(f => !f.StartsWith("vae/", StringComparison.Ordinal))));

        Assert.Contains("'vae'", error.Message);
    }

    [Fact]
    public void Select_ChosenComponents_OnlyThose()
    {
        var selected = Select(HubTestData.Sd15Needed, new PipelineFileOptions { Components = ["unet"] });

        Assert.Equal(["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors"], selected);
        Assert.Throws<HubException>(() => Select(HubTestData.Sd15Needed, new PipelineFileOptions { Components = ["nope"] }));
    }

    [Fact]
    public void Shards_IndexFile_DistinctShardsInFolder()
    {
        using var tmp = new TempDir();
        var index = tmp.Sub("model.safetensors.index.json");
        File.WriteAllText(index, """{"weight_map": {"a": "s-1.safetensors", "b": "s-2.safetensors", "c": "s-1.safetensors"}}""");

        Assert.Equal(["te/s-1.safetensors", "te/s-2.safetensors"], PipelineFiles.Shards("org/name", "te/model.safetensors.index.json", index));

        File.WriteAllText(index, """{"weight_map": {"a": "../../evil.safetensors"}}""");
        Assert.Throws<HubException>(() => PipelineFiles.Shards("org/name", "te/model.safetensors.index.json", index));
    }
}
