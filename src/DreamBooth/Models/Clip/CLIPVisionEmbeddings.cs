// Mirrors transformers src/transformers/models/clip/modeling_clip.py::CLIPVisionEmbeddings
namespace DreamBooth.Models.Clip;

using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>A learned class token followed by the image's non-overlapping patches (a bias-free strided conv), plus learned positions.</summary>
public sealed class CLIPVisionEmbeddings : Module<Tensor, Tensor>
{
    // Field order = transformers' state_dict order. Its non-persistent position_ids buffer is an arange computed in forward.
    private readonly Modules.Parameter class_embedding;   // [hidden]
    private readonly Modules.Conv2d patch_embedding;      // [hidden, channels, patch, patch], no bias
    private readonly Embedding position_embedding;        // [num_patches + 1, hidden]
    private readonly int imageSize;

    public CLIPVisionEmbeddings(CLIPVisionConfig config, Device device, ScalarType dtype) : base(nameof(CLIPVisionEmbeddings))
    {
        class_embedding = new Modules.Parameter(empty([config.HiddenSize], dtype, device));
        patch_embedding = nn.Conv2d(config.NumChannels, config.HiddenSize, config.PatchSize, stride: config.PatchSize,
                                    bias: false, device: device, dtype: dtype);
        position_embedding = UninitializedLayers.Embedding(config.NumPositions, config.HiddenSize, device, dtype);
        imageSize = config.ImageSize;
        RegisterComponents();
    }

    /// <param name="pixelValues">[B, channels, image_size, image_size], normalised as the image processor does.</param>
    /// <returns>[B, num_patches + 1, hidden]: class token first.</returns>
    public override Tensor forward(Tensor pixelValues)
    {
        if (pixelValues.dim() != 4 || pixelValues.shape[2] != imageSize || pixelValues.shape[3] != imageSize)
            throw new DreamBoothException(
                $"pixel_values must be [batch, channels, {imageSize}, {imageSize}], got [{string.Join(", ", pixelValues.shape)}].");
        using var scope = NewDisposeScope();
        long batch = pixelValues.shape[0];
        var patches = patch_embedding.call(pixelValues.to(patch_embedding.weight!.dtype, patch_embedding.weight.device))
            .flatten(2).transpose(1, 2);                                        // [B, N, C]
        var cls = class_embedding.expand(batch, 1, -1);                        // [B, 1, C]
        var embeddings = cat([cls, patches], 1);                               // [B, N + 1, C]
        var positions = arange(embeddings.shape[1], ScalarType.Int64, embeddings.device).unsqueeze(0);   // [1, N + 1]
        return Ops.Add(embeddings, position_embedding.call(positions)).MoveToOuterDisposeScope();
    }
}
