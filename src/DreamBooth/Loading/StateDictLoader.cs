namespace DreamBooth.Loading;

using static TorchSharp.torch;

/// <summary>
/// Strict, shape-checked loading into a module's own parameters (TorchSharp's load_state_dict broadcasts silently
/// and does not say which keys are wrong). Tensors are read straight into the existing parameters: no second copy.
/// </summary>
public static class StateDictLoader
{
    /// <param name="what">Names the model in errors, e.g. "sd15-tiny/unet".</param>
    /// <param name="ignore">Keys in the file that are allowed to have no parameter (e.g. CLIP position_ids).</param>
    public static void Load(nn.Module module, TensorSource source, string what, Func<string, bool>? ignore = null)
    {
        var state = module.state_dict();
        var missing = state.Keys.Where(k => !source.Contains(k)).Order(StringComparer.Ordinal).ToList();
        var unexpected = source.Keys.Where(k => !state.ContainsKey(k) && !(ignore?.Invoke(k) ?? false)).Order(StringComparer.Ordinal).ToList();
        var wrongShape = state.Where(kv => source.Contains(kv.Key) && !source[kv.Key].Shape.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key} (file [{string.Join(",", source[kv.Key].Shape)}], model [{string.Join(",", kv.Value.shape)}])")
            .ToList();
        if (missing.Count + unexpected.Count + wrongShape.Count > 0)
        {
            static string List(string label, List<string> keys) =>
                keys.Count == 0 ? "" : $" {keys.Count} {label}: {string.Join(", ", keys.Take(12))}{(keys.Count > 12 ? ", …" : "")}.";
            throw new DreamBoothException(
                $"Weights for {what} do not match the model." + List("missing", missing) + List("unexpected", unexpected) + List("with wrong shape", wrongShape));
        }
        using var noGrad = no_grad();
        foreach (var (key, target) in state)
            source.ReadInto(key, target);
    }

    /// <summary>Number of elements in all parameters (not buffers).</summary>
    public static long ParameterCount(nn.Module module) => module.parameters().Sum(p => p.NumberOfElements);
}
