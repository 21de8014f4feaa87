// The one table of original LDM / A1111 single-file key names (stable-diffusion.cpp's lesson: keep it in one place).
// Mirrors the naming used by diffusers scripts/convert_diffusers_to_original_stable_diffusion.py, generalised from
// SD 1.5's fixed 4 blocks × 2 layers to any block count and layers_per_block, so tiny test models map too.
namespace DreamBooth.Loading;

using System.Text.RegularExpressions;

/// <summary>Block layout facts the UNet names depend on.</summary>
/// <param name="LayersPerBlock">UNet layers_per_block (up blocks have one more resnet).</param>
/// <param name="UpBlockHasAttention">Per diffusers up block: does it have attentions (shifts the upsampler's LDM index)?</param>
public sealed record LdmUnetLayout(int LayersPerBlock, IReadOnlyList<bool> UpBlockHasAttention)
{
    /// <summary>The layout of a UNet with these diffusers block settings; null when layers_per_block differs between
    /// blocks (LDM numbering assumes one count).</summary>
    public static LdmUnetLayout? Of(IReadOnlyList<int> layersPerBlock, IEnumerable<string> upBlockTypes) =>
        layersPerBlock.Distinct().Count() == 1
            ? new LdmUnetLayout(layersPerBlock[0], [.. upBlockTypes.Select(t => t == "CrossAttnUpBlock2D")])
            : null;
}

/// <summary>Translates diffusers state_dict keys to and from the original LDM / A1111 single-file names.</summary>
public static partial class LdmKeyMap
{
    public const string UnetPrefix = "model.diffusion_model.";
    public const string VaePrefix = "first_stage_model.";
    public const string TextEncoderPrefix = "cond_stage_model.transformer.";

    /// <summary>SDXL (Stability's sgm naming): the CLIP ViT-L encoder, stored with transformers' names.</summary>
    public const string SdxlTextEncoderPrefix = "conditioner.embedders.0.transformer.";

    /// <summary>SDXL: the OpenCLIP ViT-bigG encoder, stored with OpenCLIP's names (see <see cref="OpenClipToLdm"/>).</summary>
    public const string SdxlTextEncoder2Prefix = "conditioner.embedders.1.model.";

    private static readonly (string Diffusers, string Ldm)[] ResnetParts =
    [
        ("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("time_emb_proj", "emb_layers.1"),
        ("norm2", "out_layers.0"), ("conv2", "out_layers.3"), ("conv_shortcut", "skip_connection"),
    ];

    /// <summary>LDM name (without the model.diffusion_model. prefix) of a diffusers UNet state_dict key.</summary>
    public static string UnetToLdm(string key, LdmUnetLayout layout)
    {
        int l = layout.LayersPerBlock;
        var m = DownPart().Match(key);
        if (m.Success)
        {
            int i = int.Parse(m.Groups[1].Value), j = int.Parse(m.Groups[3].Value);
            var rest = m.Groups[4].Value;
            return m.Groups[2].Value switch
            {
                "resnets" => $"input_blocks.{i * (l + 1) + j + 1}.0.{Resnet(rest)}",
                "attentions" => $"input_blocks.{i * (l + 1) + j + 1}.1.{rest}",
                _ => $"input_blocks.{(i + 1) * (l + 1)}.0.op.{rest.Replace("conv.", "", StringComparison.Ordinal)}",
            };
        }
        m = UpPart().Match(key);
        if (m.Success)
        {
            int i = int.Parse(m.Groups[1].Value), j = int.Parse(m.Groups[3].Value);
            var rest = m.Groups[4].Value;
            return m.Groups[2].Value switch
            {
                "resnets" => $"output_blocks.{i * (l + 1) + j}.0.{Resnet(rest)}",
                "attentions" => $"output_blocks.{i * (l + 1) + j}.1.{rest}",
                _ => $"output_blocks.{i * (l + 1) + l}.{(layout.UpBlockHasAttention[i] ? 2 : 1)}.{rest}",
            };
        }
        m = MidPart().Match(key);
        if (m.Success)
        {
            int j = int.Parse(m.Groups[2].Value);
            var rest = m.Groups[3].Value;
            return m.Groups[1].Value == "attentions" ? $"middle_block.1.{rest}" : $"middle_block.{2 * j}.{Resnet(rest)}";
        }
        foreach (var (d, ldm) in new[]
                 {
                     ("time_embedding.linear_1.", "time_embed.0."), ("time_embedding.linear_2.", "time_embed.2."),
                     ("add_embedding.linear_1.", "label_emb.0.0."), ("add_embedding.linear_2.", "label_emb.0.2."),
                     ("conv_in.", "input_blocks.0.0."), ("conv_norm_out.", "out.0."), ("conv_out.", "out.2."),
                 })
            if (key.StartsWith(d, StringComparison.Ordinal)) return ldm + key[d.Length..];
        throw new DreamBoothException($"No single-file name is known for UNet key '{key}'.");
    }

    /// <summary>LDM name (without first_stage_model.) of a diffusers VAE key, and whether it is a Linear stored as a 1×1 conv.</summary>
    public static (string Key, bool IsConv1x1) VaeToLdm(string key, int numUpBlocks)
    {
        var k = key;
        var m = VaeDownPart().Match(k);
        if (m.Success)
            k = m.Groups[2].Value == "resnets"
                ? $"encoder.down.{m.Groups[1].Value}.block.{m.Groups[3].Value}.{m.Groups[4].Value}"
                : $"encoder.down.{m.Groups[1].Value}.downsample.{m.Groups[4].Value}";
        m = VaeUpPart().Match(k);
        if (m.Success)
        {
            int ldmIndex = numUpBlocks - 1 - int.Parse(m.Groups[1].Value);
            k = m.Groups[2].Value == "resnets"
                ? $"decoder.up.{ldmIndex}.block.{m.Groups[3].Value}.{m.Groups[4].Value}"
                : $"decoder.up.{ldmIndex}.upsample.{m.Groups[4].Value}";
        }
        k = k.Replace("mid_block.resnets.0.", "mid.block_1.", StringComparison.Ordinal)
             .Replace("mid_block.resnets.1.", "mid.block_2.", StringComparison.Ordinal)
             .Replace("conv_norm_out.", "norm_out.", StringComparison.Ordinal)
             .Replace(".conv_shortcut.", ".nin_shortcut.", StringComparison.Ordinal);
        bool conv = false;
        if (k.Contains("mid_block.attentions.0.", StringComparison.Ordinal))
        {
            k = k.Replace("mid_block.attentions.0.", "mid.attn_1.", StringComparison.Ordinal);
            foreach (var (d, ldm) in new[] { ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out."), ("group_norm.", "norm.") })
            {
                var at = k.IndexOf(".attn_1." + d, StringComparison.Ordinal);
                if (at < 0) continue;
                k = k[..(at + 8)] + ldm + k[(at + 8 + d.Length)..];
                conv = d != "group_norm." && k.EndsWith(".weight", StringComparison.Ordinal);
            }
        }
        return (k, conv);
    }

    /// <summary>LDM name (without cond_stage_model.transformer.) of a CLIP text-encoder key: the same name.</summary>
    public static string TextEncoderToLdm(string key) => key;

    /// <summary>
    /// OpenCLIP name (without the embedder prefix) of a <c>CLIPTextModelWithProjection</c> key, as diffusers'
    /// convert_diffusers_to_original_sdxl.py writes it: q/k/v are the three row blocks of one fused
    /// <c>attn.in_proj_weight</c> / <c>in_proj_bias</c> (<paramref name="QkvIndex"/> 0, 1, 2; −1 for other keys), and the
    /// projection is stored transposed ([hidden, projection], used as x @ W).
    /// </summary>
    public static (string Key, int QkvIndex, bool Transposed) OpenClipToLdm(string key)
    {
        foreach (var (d, ldm, transposed) in new[]
                 {
                     ("text_model.embeddings.position_embedding.weight", "positional_embedding", false),
                     ("text_model.embeddings.token_embedding.weight", "token_embedding.weight", false),
                     ("text_model.final_layer_norm.weight", "ln_final.weight", false),
                     ("text_model.final_layer_norm.bias", "ln_final.bias", false),
                     ("text_projection.weight", "text_projection", true),
                 })
            if (key == d) return (ldm, -1, transposed);
        var m = OpenClipLayer().Match(key);
        if (m.Success)
        {
            var block = $"transformer.resblocks.{m.Groups[1].Value}.";
            var (part, tensor) = (m.Groups[2].Value, m.Groups[3].Value);
            int qkv = part switch { "self_attn.q_proj" => 0, "self_attn.k_proj" => 1, "self_attn.v_proj" => 2, _ => -1 };
            if (qkv >= 0) return ($"{block}attn.in_proj_{tensor}", qkv, false);
            var ldm = part switch
            {
                "self_attn.out_proj" => "attn.out_proj",
                "layer_norm1" => "ln_1",
                "layer_norm2" => "ln_2",
                "mlp.fc1" => "mlp.c_fc",
                "mlp.fc2" => "mlp.c_proj",
                _ => null,
            };
            if (ldm is not null) return ($"{block}{ldm}.{tensor}", -1, false);
        }
        throw new DreamBoothException($"No single-file (OpenCLIP) name is known for text encoder key '{key}'.");
    }

    private static string Resnet(string rest)
    {
        foreach (var (d, ldm) in ResnetParts)
            if (rest.StartsWith(d + ".", StringComparison.Ordinal)) return ldm + rest[d.Length..];
        return rest;
    }

    [GeneratedRegex(@"^down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)\.(.+)$")]
    private static partial Regex DownPart();

    [GeneratedRegex(@"^up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)\.(.+)$")]
    private static partial Regex UpPart();

    [GeneratedRegex(@"^mid_block\.(resnets|attentions)\.(\d+)\.(.+)$")]
    private static partial Regex MidPart();

    [GeneratedRegex(@"^text_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$")]
    private static partial Regex OpenClipLayer();

    [GeneratedRegex(@"^encoder\.down_blocks\.(\d+)\.(resnets|downsamplers)\.(\d+)\.(.+)$")]
    private static partial Regex VaeDownPart();

    [GeneratedRegex(@"^decoder\.up_blocks\.(\d+)\.(resnets|upsamplers)\.(\d+)\.(.+)$")]
    private static partial Regex VaeUpPart();
}
