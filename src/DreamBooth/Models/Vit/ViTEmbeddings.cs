// Mirrors transformers src/transformers/models/vit/modeling_vit.py::ViTEmbeddings (no mask token, no interpolation)
namespace DreamBooth.Models.Vit;

using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>The CLS token followed by the patch embeddings, plus learned absolute positions.</summary>
public sealed class ViTEmbeddings : Module<Tensor, Tensor>
{
    // Field order = transformers' state_dict order.
    private readonly Modules.Parameter cls_token;             // [1, 1, hidden]
    private readonly Modules.Parameter position_embeddings;   // [1, patches + 1, hidden]
    private readonly ViTPatchEmbeddings patch_embeddings;

    public ViTEmbeddings(ViTConfig config, Device device, ScalarType dtype) : base(nameof(ViTEmbeddings))
    {
        cls_token = new Modules.Parameter(empty([1, 1, config.HiddenSize], dtype, device));
        position_embeddings = new Modules.Parameter(empty([1, config.NumPatches + 1, config.HiddenSize], dtype, device));
        patch_embeddings = new ViTPatchEmbeddings(config, device, dtype);
        RegisterComponents();
    }

    /// <returns>[B, patches + 1, hidden]</returns>
    public override Tensor forward(Tensor pixelValues)
    {
        using var scope = NewDisposeScope();
        var patches = patch_embeddings.call(pixelValues);                          // [B, N, C]
        var cls = cls_token.expand(patches.shape[0], -1, -1);                       // [B, 1, C]
        return Ops.Add(cat([cls, patches], 1), position_embeddings).MoveToOuterDisposeScope();
    }
}
