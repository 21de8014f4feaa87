namespace DreamBooth.Tests.Models;

using DreamBooth.Models;

public sealed class BlockKeysTests
{
    [Fact]
    public void ResnetBlock2D_StateDictKeys_MatchDiffusers()
    {
        using var block = new ResnetBlock2D(32, 64, 128, groups: 8, eps: 1e-5);
        Assert.Equal(
            ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight", "conv_shortcut.bias", "conv_shortcut.weight",
             "norm1.bias", "norm1.weight", "norm2.bias", "norm2.weight", "time_emb_proj.bias", "time_emb_proj.weight"],
            block.state_dict().Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Attention_VaeStyle_StateDictKeys_MatchDiffusers()
    {
        using var attn = new Attention(32, heads: 1, dimHead: 32, bias: true, normNumGroups: 8, eps: 1e-6, residualConnection: true);
        Assert.Equal(
            ["group_norm.bias", "group_norm.weight", "to_k.bias", "to_k.weight", "to_out.0.bias", "to_out.0.weight",
             "to_q.bias", "to_q.weight", "to_v.bias", "to_v.weight"],
            attn.state_dict().Keys.Order(StringComparer.Ordinal));
        using var x = TorchSharp.torch.randn(2, 32, 4, 4);
        using var y = attn.call(x, null);
        Assert.Equal(x.shape, y.shape);
    }

    [Fact]
    public void Downsample2D_Unpadded_PadsRightBottom()
    {
        using var down = new Downsample2D(4, 4, padding: 0);
        using var x = TorchSharp.torch.randn(1, 4, 8, 8);
        using var y = down.call(x);
        Assert.Equal([1L, 4, 4, 4], y.shape); // unpadded it would be 3×3
    }
}

public sealed class AttentionSlicingTests
{
    [Fact]
    public void Unet_AttentionSlicing_SameOutput()
    {
        using var unet = DreamBooth.Models.Unets.UNet2DConditionModel.FromPretrained(Fixtures.Path("sd2-tiny-v", "unet"));
        using var noGrad = TorchSharp.torch.no_grad();
        TorchSharp.torch.manual_seed(1);
        using var x = TorchSharp.torch.randn(2, 4, 16, 16);
        using var ctx = TorchSharp.torch.randn(2, 77, 32);
        using var t = TorchSharp.torch.tensor(new long[] { 10, 900 });
        using var plain = unet.forward(x, t, ctx, null);
        Attention.SetSlicing(unet, 3);
        using var sliced = unet.forward(x, t, ctx, null);
        var diff = (plain - sliced).abs().max().item<float>();
        Assert.True(diff < 1e-5, $"max diff {diff}");
        Assert.Throws<DreamBoothException>(() => Attention.SetSlicing(unet, 0));
    }
}
