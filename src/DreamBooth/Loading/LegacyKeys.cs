// Mirrors diffusers src/diffusers/models/modeling_utils.py::ModelMixin._convert_deprecated_attention_blocks.
namespace DreamBooth.Loading;

/// <summary>Key renamings for checkpoints written by older library versions.</summary>
public static class LegacyKeys
{
    // diffusers < 0.14 stored the VAE mid-block attention (its old AttentionBlock) under these names;
    // diffusers renames them on load (ModelMixin._convert_deprecated_attention_blocks).
    private static readonly Dictionary<string, string> DeprecatedAttention = new(StringComparer.Ordinal)
    {
        ["query"] = "to_q",
        ["key"] = "to_k",
        ["value"] = "to_v",
        ["proj_attn"] = "to_out.0",
    };

    /// <summary>
    /// <c>….attentions.N.query.weight</c> → <c>….attentions.N.to_q.weight</c> (likewise key/value/proj_attn);
    /// any other key is returned unchanged.
    /// </summary>
    public static string RenameDeprecatedAttentionKey(string key)
    {
        var parts = key.Split('.');
        // <prefix>.attentions.<index>.<old>.<weight|bias>
        if (parts.Length >= 4 && parts[^4] == "attentions" && DeprecatedAttention.TryGetValue(parts[^2], out var renamed))
            return string.Join('.', parts[..^2]) + "." + renamed + "." + parts[^1];
        return key;
    }

    /// <summary>A view of <paramref name="source"/> with deprecated attention names renamed (no data is read).</summary>
    public static TensorSource RenameDeprecatedAttention(TensorSource source) =>
        source.Select((key, entry) => (RenameDeprecatedAttentionKey(key), entry));
}
