namespace DreamBooth.Torch;

using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Deterministic initialisation of a model trained from scratch, from one generator (not torch's global one):
/// norms start as identity (weight 1, bias 0), embeddings as N(0, 0.02²) like transformers' CLIP, and every other
/// weight and bias as U(−1/√fan_in, 1/√fan_in), which is what torch's default Linear/Conv2d init amounts to;
/// scalar parameters start at 0.
/// Needed because the text encoder is built with uninitialised tensors (it normally loads weights). Used for the toy
/// world's pretraining and for dreambooth bench's random-weight models.
/// </summary>
public static class FreshInit
{
    public static void Apply(nn.Module module, Generator generator)
    {
        using var noGrad = no_grad();
        var parameters = module.named_parameters().ToList();
        var fanIn = parameters.Where(p => p.parameter.dim() >= 2)
                              .ToDictionary(p => Owner(p.name), p => p.parameter.shape.Skip(1).Aggregate(1L, (a, b) => a * b));
        foreach (var (name, p) in parameters)
        {
            bool isNorm = Owner(name).Split('.')[^1].Contains("norm", StringComparison.Ordinal);
            // A scalar has no fan-in; its meaning is its owner's (CLIP's logit_scale): 0 here, set by the caller.
            if (p.dim() == 0) p.zero_();
            else if (isNorm && name.EndsWith("weight", StringComparison.Ordinal)) p.fill_(1.0);
            else if (isNorm) p.zero_();
            else if (name.Contains("embedding", StringComparison.Ordinal) && p.dim() == 2 && !name.Contains("linear", StringComparison.Ordinal))
                p.normal_(0, 0.02, generator);
            else
            {
                double bound = 1 / Math.Sqrt(fanIn.TryGetValue(Owner(name), out var f) ? f : p.shape[^1]);
                p.uniform_(-bound, bound, generator);
            }
        }
    }

    // "a.b.weight" → "a.b": the layer a parameter belongs to.
    private static string Owner(string name) => name.Contains('.') ? name[..name.LastIndexOf('.')] : "";
}
