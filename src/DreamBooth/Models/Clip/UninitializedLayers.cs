// Layer factories for models whose weights are about to be loaded: parameters are allocated once, on the
// target device and dtype, and left uninitialised (torch.empty). On the meta device nothing is allocated at all,
// which is how the full-size key/shape manifests are checked without 3 GB of memory.
namespace DreamBooth.Models.Clip;

using TorchSharp;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

internal static class UninitializedLayers
{
    /// <summary>nn.Linear(inFeatures, outFeatures, bias) with empty parameters (weight [out, in]).</summary>
    public static Modules.Linear Linear(long inFeatures, long outFeatures, bool bias, Device device, ScalarType dtype) =>
        nn.Linear(
            new Modules.Parameter(empty([outFeatures, inFeatures], dtype, device)),
            bias ? new Modules.Parameter(empty([outFeatures], dtype, device)) : null);

    /// <summary>nn.LayerNorm(dim, eps) (TorchSharp fills weight 1 / bias 0: two cheap fills, no second copy).</summary>
    public static Modules.LayerNorm LayerNorm(long dim, double eps, Device device, ScalarType dtype) =>
        nn.LayerNorm(dim, eps, device: device, dtype: dtype);

    public static Embedding Embedding(long numEmbeddings, long embeddingDim, Device device, ScalarType dtype) =>
        new(new Modules.Parameter(empty([numEmbeddings, embeddingDim], dtype, device)));
}

/// <summary>
/// Mirrors torch.nn.Embedding (no padding_idx / max_norm): a lookup table whose only state is <c>weight</c>.
/// TorchSharp's native Embedding always allocates and randomly initialises a CPU table first (even for
/// from_pretrained or the meta device): 250 MB for SDXL's second text encoder. This one holds just the
/// parameter it is given.
/// </summary>
internal sealed class Embedding : nn.Module<Tensor, Tensor>
{
    private readonly Modules.Parameter weight;   // [num_embeddings, embedding_dim]

    public Embedding(Modules.Parameter weight) : base(nameof(Embedding))
    {
        this.weight = weight;
        RegisterComponents();
    }

    public Tensor Weight => weight;

    public override Tensor forward(Tensor indices)
    {
        using var scope = NewDisposeScope();
        long[] shape = [.. indices.shape, weight.shape[1]];
        var rows = weight.index_select(0, indices.reshape(-1));   // [N, dim], N = indices.numel()
        return rows.view(shape).MoveToOuterDisposeScope();        // [..., dim]
    }
}
