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

    /// <summary>
    /// The common part of every from_pretrained: builds a model, loads its weights strictly from the tensors
    /// <paramref name="tensorsFor"/> selects for it, and returns it in eval mode (as diffusers and transformers do: no
    /// dropout). The model is disposed if anything fails. The source stays the caller's (views own no files).
    /// </summary>
    /// <param name="build">Builds the model, ideally on its target device and dtype (one copy of the weights).</param>
    /// <param name="tensorsFor">The tensors under the model's own names, e.g. a single file's keys mapped for this model.</param>
    public static T LoadNew<T>(Func<T> build, Func<T, TensorSource> tensorsFor, string what, Func<string, bool>? ignore = null)
        where T : nn.Module
    {
        var model = build();
        try
        {
            Load(model, tensorsFor(model), what, ignore);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <see cref="LoadNew{T}(Func{T}, Func{T, TensorSource}, string, Func{string, bool}?)"/> from weight files (e.g. a
    /// component folder's shards), opened once the model is built and closed after loading.
    /// </summary>
    /// <param name="view">Renames the files' keys for the model (e.g. legacy names); null keeps them.</param>
    public static T LoadNew<T>(Func<T> build, string[] files, string what, Func<TensorSource, TensorSource>? view = null,
                               Func<string, bool>? ignore = null)
        where T : nn.Module
    {
        TensorSource? opened = null;
        try
        {
            return LoadNew(build, _ =>
            {
                opened = TensorSource.Open(files);
                return view is null ? opened : view(opened);
            }, what, ignore);
        }
        finally
        {
            opened?.Dispose();
        }
    }

    /// <summary>Number of elements in all parameters (not buffers).</summary>
    public static long ParameterCount(nn.Module module) => module.parameters().Sum(p => p.NumberOfElements);
}
