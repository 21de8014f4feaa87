namespace DreamBooth.Tests.Lora;

using DreamBooth.Lora;
using DreamBooth.Models.Clip;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>LoraLinear / LoraConv2d arithmetic, several adapters, fusing, and injection into real model classes.</summary>
public sealed class LoraLayerTests
{
    [Fact]
    public void LoraLinear_NewAdapter_StartsAsIdentityWithKaimingA()
    {
        using var scope = NewDisposeScope();
        using var layer = new LoraLinear(nn.Linear(64, 16));
        layer.AddAdapter("default", new LoraAdapterSettings(Rank: 4, Alpha: 8));
        var x = randn(3, 64);
        Assert.True(layer.call(x).allclose(layer.BaseLayer.call(x), rtol: 0, atol: 0));
        Assert.Equal([4L, 64L], layer.A("default").shape);
        Assert.Equal([16L, 4L], layer.B("default").shape);
        Assert.Equal(0f, layer.B("default").abs().max().item<float>());
        // kaiming_uniform(a=√5) on [r, in]: U(−1/√in, 1/√in), and not all zero.
        double a = layer.A("default").abs().max().item<float>();
        Assert.InRange(a, 0.05, 1 / Math.Sqrt(64));
    }

    [Fact]
    public void LoraLinear_TwoAdapters_AddScaledLowRankTermsAndToggle()
    {
        using var scope = NewDisposeScope();
        using var layer = new LoraLinear(nn.Linear(8, 6));
        layer.AddAdapter("dog", new LoraAdapterSettings(Rank: 2, Alpha: 4));           // scale 2
        layer.AddAdapter("cat", new LoraAdapterSettings(Rank: 3, Alpha: 3, Weight: 0.5)); // scale 0.5
        layer.LoadAdapterWeights("dog", randn(2, 8), randn(6, 2));
        layer.LoadAdapterWeights("cat", randn(3, 8), randn(6, 3));
        var x = randn(5, 8);
        var baseOut = layer.BaseLayer.call(x);
        Tensor Term(string a, double s) => x.matmul(layer.A(a).t()).matmul(layer.B(a).t()) * s;

        AssertClose(baseOut + Term("dog", 2) + Term("cat", 0.5), layer.call(x));
        layer.SetEnabled("cat", false);
        AssertClose(baseOut + Term("dog", 2), layer.call(x));
        layer.SetEnabled("cat", true);
        layer.SetWeight("dog", 0.25);
        AssertClose(baseOut + Term("dog", 0.5) + Term("cat", 0.5), layer.call(x));
        Assert.Equal(["base_layer.weight", "base_layer.bias", "lora_A.dog.weight", "lora_A.cat.weight", "lora_B.dog.weight", "lora_B.cat.weight"],
                     layer.named_parameters().Select(p => p.name));
        layer.DeleteAdapter("dog");
        AssertClose(baseOut + Term("cat", 0.5), layer.call(x));
        Assert.Equal(["cat"], layer.Adapters);
        Assert.Equal(["base_layer.weight", "base_layer.bias", "lora_A.cat.weight", "lora_B.cat.weight"], layer.named_parameters().Select(p => p.name));
    }

    [Fact]
    public void LoraLayer_Fuse_MergesOnceAndForwardSkipsFusedAdapter()
    {
        using var scope = NewDisposeScope();
        using var layer = new LoraLinear(nn.Linear(8, 6));
        layer.AddAdapter("a", new LoraAdapterSettings(Rank: 2, Alpha: 8));
        layer.LoadAdapterWeights("a", randn(2, 8), randn(6, 2));
        var x = randn(5, 8);
        var unfused = layer.call(x);
        var w = layer.BaseWeight.detach().clone();

        layer.Fuse(0.5);
        layer.Fuse(0.5);   // already fused: no second merge
        using (no_grad())
            AssertClose(w + layer.B("a").matmul(layer.A("a")) * (0.5 * 4), layer.BaseWeight);
        Assert.Equal([("a", 2.0)], layer.Merged);
        // Fused at 0.5 the adapter contributes half; the forward adds nothing more.
        var half = layer.BaseLayer.call(x);
        AssertClose(half, layer.call(x));
        Assert.False(unfused.allclose(half, rtol: 1e-3, atol: 1e-3));

        layer.Unfuse();
        AssertClose(w, layer.BaseWeight, 1e-6);
        AssertClose(unfused, layer.call(x));
        Assert.Empty(layer.Merged);
    }

    [Theory]
    [InlineData(1, 1, 0)]
    [InlineData(3, 1, 1)]
    [InlineData(3, 2, 1)]
    public void LoraConv2d_Forward_EqualsConvWithFusedWeight(long kernel, long stride, long padding)
    {
        using var scope = NewDisposeScope();
        using var layer = new LoraConv2d(nn.Conv2d(6, 10, kernel, stride: stride, padding: padding));
        layer.AddAdapter("a", new LoraAdapterSettings(Rank: 3, Alpha: 6));
        Assert.Equal([3L, 6L, kernel, kernel], layer.A("a").shape);
        Assert.Equal([10L, 3L, 1L, 1L], layer.B("a").shape);
        layer.LoadAdapterWeights("a", randn(3, 6, kernel, kernel), randn(10, 3, 1, 1));
        var x = randn(2, 6, 9, 9);
        var adapted = layer.call(x);
        layer.Fuse();
        AssertClose(adapted, layer.BaseLayer.call(x), 1e-4);
    }

    [Fact]
    public void LoraInjector_Unet_KeepsParameterOrderAndTrainsOnlyAdapters()
    {
        using var scope = NewDisposeScope();
        using var unet = LoraFixture.LoadUnet("sd15-tiny");
        var before = unet.named_parameters().Select(p => p.name).ToList();
        var adapted = LoraInjector.Inject(unet, new LoraConfig { Rank = 4, Alpha = 32 });

        Assert.Equal(88, adapted.Count);   // 11 transformer blocks × (attn1, attn2) × (to_q, to_k, to_v, to_out.0)
        var after = unet.named_parameters().ToList();
        // The base parameters keep their order, renamed <module>.base_layer.* (as in peft).
        Assert.Equal(before, after.Where(p => !p.name.Contains(".lora_", StringComparison.Ordinal))
                                  .Select(p => p.name.Replace(".base_layer.", ".", StringComparison.Ordinal)));
        Assert.All(after, p => Assert.Equal(p.name.Contains(".lora_", StringComparison.Ordinal), p.parameter.requires_grad));
        Assert.Contains(after, p => p.name == "mid_block.attentions.0.transformer_blocks.0.attn2.to_out.0.lora_B.default.weight");
    }

    [Fact]
    public void LoraInjector_TextEncoderAttentionAndMlp_WrapsEveryProjection()
    {
        using var scope = NewDisposeScope();
        using var encoder = CLIPTextModel.FromPretrained(Fixtures.Path("sd15-tiny", "text_encoder"));
        var ids = tensor(new long[] { 49406, 320, 1125, 539, 49407, 49407 }).unsqueeze(0);
        using var noGrad = no_grad();
        var expected = encoder.Encode(ids).LastHiddenState;

        var adapted = LoraInjector.Inject(encoder, new LoraConfig { TargetModules = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"] });

        Assert.Equal(encoder.Config.NumHiddenLayers * 6, adapted.Count);
        Assert.All(adapted, p => Assert.IsAssignableFrom<LoraLinear>(encoder.named_modules().Single(m => m.name == p).module));
        AssertClose(expected, encoder.Encode(ids).LastHiddenState);   // B = 0: unchanged
    }

    [Fact]
    public void LoraInjector_TargetThatIsNotALayer_ThrowsNamingIt()
    {
        using var unet = LoraFixture.LoadUnet("sd15-tiny");
        var e = Assert.Throws<DreamBoothException>(() => LoraInjector.Inject(unet, new LoraConfig { TargetModules = ["attn1"] }));
        Assert.Contains("is a Attention", e.Message);
        e = Assert.Throws<DreamBoothException>(() => LoraInjector.Inject(unet, new LoraConfig { TargetModules = ["nothing_like_this"] }));
        Assert.Contains("match no module", e.Message);
    }

    [Fact]
    public void LoraInjector_LayerInATypedField_ThrowsBeforeChangingAnything()
    {
        // CLIPTextModelWithProjection keeps text_projection in a field typed Linear: no wrapper fits, and the q_proj
        // layers must stay untouched too.
        using var encoder = CLIPTextModelWithProjection.FromPretrained(Fixtures.Path("sdxl-tiny", "text_encoder_2"));
        var e = Assert.Throws<DreamBoothException>(() =>
            LoraInjector.Inject(encoder, new LoraConfig { TargetModules = ["q_proj", "text_projection"] }));
        Assert.Contains("'text_projection'", e.Message);
        Assert.Contains("declared as Linear", e.Message);
        Assert.Empty(LoraModel.Layers(encoder));
    }

    [Fact]
    public void LoraInjector_SameAdapterTwice_Throws()
    {
        using var unet = LoraFixture.LoadUnet("sd15-tiny");
        LoraInjector.Inject(unet, new LoraConfig());
        var e = Assert.Throws<DreamBoothException>(() => LoraInjector.Inject(unet, new LoraConfig()));
        Assert.Contains("already exists", e.Message);
        LoraInjector.Inject(unet, new LoraConfig(), "second");
        Assert.Equal(["default", "second"], LoraModel.AdapterNames(unet));
    }

    private static void AssertClose(Tensor expected, Tensor actual, double atol = 1e-5)
    {
        Assert.Equal(expected.shape, actual.shape);
        double diff = (expected - actual).abs().max().item<float>();
        Assert.True(diff <= atol, $"max |diff| {diff:E2} > {atol:E0}");
    }
}
