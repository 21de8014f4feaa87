// Mirrors diffusers src/diffusers/models/autoencoders/autoencoder_kl.py::AutoencoderKL.tiled_encode / tiled_decode /
// blend_v / blend_h: overlapping tiles, each cross-faded linearly into its upper and left neighbours, then cropped.
namespace DreamBooth.Models.Autoencoders;

using static TorchSharp.torch;

internal static class Tiling
{
    /// <summary>
    /// Splits <paramref name="input"/> [B, C, H, W] into tiles of <paramref name="tileSize"/> starting every
    /// <paramref name="stride"/> (edge tiles may be smaller), maps each through <paramref name="process"/>, blends
    /// neighbours over <paramref name="blendExtent"/> output rows/columns and keeps the top-left
    /// <paramref name="rowLimit"/>² of each tile. Blending is in place and in diffusers' order (row by row, left to
    /// right, upper neighbour first, neighbours already blended), so results match diffusers exactly; only the previous
    /// row of processed tiles is kept alive instead of all of them.
    /// </summary>
    public static Tensor Run(Tensor input, int tileSize, int stride, int blendExtent, int rowLimit, Func<Tensor, Tensor> process)
    {
        using var scope = NewDisposeScope();
        long height = input.shape[2], width = input.shape[3];
        List<Tensor>? previous = null;
        var resultRows = new List<Tensor>();
        for (long i = 0; i < height; i += stride)
        {
            var row = new List<Tensor>();
            for (long j = 0; j < width; j += stride)
            {
                using var tileScope = NewDisposeScope();
                var tile = input[.., .., (int)i..(int)Math.Min(i + tileSize, height), (int)j..(int)Math.Min(j + tileSize, width)];
                row.Add(process(tile).MoveToOuterDisposeScope());
            }
            var cropped = new List<Tensor>();
            for (int j = 0; j < row.Count; j++)
            {
                if (previous is not null) BlendV(previous[j], row[j], blendExtent);
                if (j > 0) BlendH(row[j - 1], row[j], blendExtent);
                cropped.Add(row[j][.., .., ..rowLimit, ..rowLimit]);
            }
            resultRows.Add(cat(cropped, dim: 3));                                         // [B, C', ≤rowLimit, W']
            foreach (var t in cropped) t.Dispose();
            previous?.ForEach(t => t.Dispose());
            previous = row;
        }
        return cat(resultRows, dim: 2).MoveToOuterDisposeScope();                          // [B, C', H', W']
    }

    /// <summary>Cross-fades the top rows of <paramref name="b"/> from the bottom rows of <paramref name="a"/> (in place).</summary>
    public static void BlendV(Tensor a, Tensor b, int blendExtent) => Blend(a, b, blendExtent, dim: 2);

    /// <summary>Cross-fades the left columns of <paramref name="b"/> from the right columns of <paramref name="a"/> (in place).</summary>
    public static void BlendH(Tensor a, Tensor b, int blendExtent) => Blend(a, b, blendExtent, dim: 3);

    private static void Blend(Tensor a, Tensor b, int blendExtent, int dim)
    {
        long e = Math.Min(Math.Min(a.shape[dim], b.shape[dim]), blendExtent);
        if (e <= 0) return;
        using var scope = NewDisposeScope();
        // Row y of the overlap: a · (1 - y/e) + b · (y/e), the weights rounded to the tensor's dtype as PyTorch
        // rounds a Python float scalar; so row 0 is pure a and the fade reaches pure b one row after the overlap.
        var wa = new double[e];
        var wb = new double[e];
        for (int y = 0; y < e; y++)
        {
            wa[y] = 1 - y / (double)e;
            wb[y] = y / (double)e;
        }
        long[] shape = dim == 2 ? [1, 1, e, 1] : [1, 1, 1, e];
        var weightA = tensor(wa).to(b.dtype, b.device).view(shape);
        var weightB = tensor(wb).to(b.dtype, b.device).view(shape);
        var head = b.narrow(dim, 0, e);
        var blended = a.narrow(dim, a.shape[dim] - e, e) * weightA + head * weightB;
        head.copy_(blended);
    }
}
