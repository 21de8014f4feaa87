namespace DreamBooth.Tests.Models.Unets;

using System.Text.Json.Nodes;
using DreamBooth.Loading;
using DreamBooth.Models.Unets;

public sealed class UNet2DConditionConfigTests
{
    [Fact]
    public void UNet2DConditionConfig_Sd15Tiny_AttentionHeadDimIsHeadCount()
    {
        var c = UNet2DConditionConfig.Load(Fixtures.Path("sd15-tiny", "unet", "config.json"));
        Assert.Equal([8, 8, 8], c.NumAttentionHeads);
        Assert.Equal([32, 32, 64], c.BlockOutChannels);
        Assert.Equal([2, 2, 2], c.LayersPerBlock);
        Assert.Equal([32, 32, 32], c.CrossAttentionDim);
        Assert.False(c.UseLinearProjection);
        Assert.False(c.UpcastAttention);
        Assert.Null(c.AdditionEmbedType);
        Assert.Equal(8, c.NormNumGroups);
        Assert.Equal(1e-5, c.NormEps);
        Assert.Equal(128, c.TimeEmbedDim);
        Assert.Equal(16, c.SampleSize);
    }

    [Fact]
    public void UNet2DConditionConfig_Sd2TinyV_ListHeadsLinearProjectionUpcast()
    {
        var c = UNet2DConditionConfig.Load(Fixtures.Path("sd2-tiny-v", "unet", "config.json"));
        Assert.Equal([2, 4, 4], c.NumAttentionHeads);
        Assert.True(c.UseLinearProjection);
        Assert.True(c.UpcastAttention);
    }

    [Fact]
    public void UNet2DConditionConfig_SdxlTiny_TextTimeAndTransformerDepths()
    {
        var c = UNet2DConditionConfig.Load(Fixtures.Path("sdxl-tiny", "unet", "config.json"));
        Assert.Equal("text_time", c.AdditionEmbedType);
        Assert.Equal(8, c.AdditionTimeEmbedDim);
        Assert.Equal(80, c.ProjectionClassEmbeddingsInputDim);
        Assert.Equal([1, 1, 2], c.TransformerLayersPerBlock);
        Assert.Equal(["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"], c.DownBlockTypes);
        Assert.False(c.UpcastAttention);                           // written as null
    }

    [Fact]
    public void UNet2DConditionConfig_OldSd21Config_MissingKeysTakeDiffusersDefaults()
    {
        // The published SD 2.1 config predates transformer_layers_per_block, addition_embed_type, conv kernels, ...
        var c = UNet2DConditionConfig.Load(Fixtures.Path("manifests", "sd21", "unet", "config.json"));
        Assert.Equal([5, 10, 20, 20], c.NumAttentionHeads);
        Assert.Equal([1, 1, 1, 1], c.TransformerLayersPerBlock);
        Assert.Equal([1024, 1024, 1024, 1024], c.CrossAttentionDim);
        Assert.Null(c.AdditionEmbedType);
        Assert.Equal(3, c.ConvInKernel);
        Assert.Equal(96, c.SampleSize);
    }

    [Fact]
    public void UNet2DConditionConfig_NumAttentionHeads_WinsOverAttentionHeadDim()
    {
        var c = Parse(j => { j["num_attention_heads"] = 4; j["attention_head_dim"] = 8; });
        Assert.Equal([4, 4, 4], c.NumAttentionHeads);
    }

    [Fact]
    public void UNet2DConditionConfig_UnknownKeys_AreTolerated()
    {
        var c = Parse(j => j["some_future_option"] = "whatever");
        Assert.Equal([8, 8, 8], c.NumAttentionHeads);
    }

    [Theory]
    [InlineData("class_embed_type", "\"timestep\"")]
    [InlineData("num_class_embeds", "10")]
    [InlineData("resnet_time_scale_shift", "\"scale_shift\"")]
    [InlineData("dual_cross_attention", "true")]
    [InlineData("only_cross_attention", "[false, true, false]")]
    [InlineData("addition_embed_type", "\"text\"")]
    [InlineData("encoder_hid_dim", "768")]
    [InlineData("time_cond_proj_dim", "256")]
    [InlineData("time_embedding_type", "\"fourier\"")]
    [InlineData("attention_type", "\"gated\"")]
    [InlineData("act_fn", "\"gelu\"")]
    [InlineData("mid_block_type", "\"UNetMidBlock2DSimpleCrossAttn\"")]
    [InlineData("down_block_types", "[\"CrossAttnDownBlock2D\", \"SimpleCrossAttnDownBlock2D\", \"DownBlock2D\"]")]
    [InlineData("transformer_layers_per_block", "[[1, 2], [1, 2], [1, 2]]")]
    [InlineData("attention_head_dim", "[8, 8]")]
    [InlineData("attention_head_dim", "5")]
    public void UNet2DConditionConfig_UnsupportedOption_NamesTheKey(string key, string json)
    {
        var e = Assert.Throws<DreamBoothException>(() => Parse(j => j[key] = JsonNode.Parse(json)));
        Assert.Contains($"'{key}'", e.Message);
    }

    [Fact]
    public void UNet2DConditionConfig_TextTimeWithoutDims_NamesTheMissingKey()
    {
        var e = Assert.Throws<DreamBoothException>(() => Parse(j => j["addition_embed_type"] = "text_time"));
        Assert.Contains("'addition_time_embed_dim'", e.Message);
    }

    // The sd15-tiny config with an edit, parsed as if read from a file.
    private static UNet2DConditionConfig Parse(Action<JsonObject> edit)
    {
        var path = Fixtures.Path("sd15-tiny", "unet", "config.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        return UNet2DConditionConfig.FromConfig(new ConfigFile(path, json));
    }
}
