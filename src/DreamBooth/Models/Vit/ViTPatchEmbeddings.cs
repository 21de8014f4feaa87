// Mirrors transformers src/transformers/models/vit/modeling_vit.py::ViTPatchEmbeddings
namespace DreamBooth.Models.Vit;

using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>Non-overlapping patches projected by a strided convolution (with bias).</summary>
public sealed class ViTPatchEmbeddings : Module<Tensor, Tensor>
{
    private readonly Modules.Conv2d projection;   // [hidden, channels, patch, patch] + bias [hidden]
    private readonly int imageSize;
    private readonly int channels;

    public ViTPatchEmbeddings(ViTConfig config, Device device, ScalarType dtype) : base(nameof(ViTPatchEmbeddings))
    {
        projection = nn.Conv2d(config.NumChannels, config.HiddenSize, config.PatchSize, stride: config.PatchSize,
                               bias: true, device: device, dtype: dtype);
        imageSize = config.ImageSize;
        channels = config.NumChannels;
        RegisterComponents();
    }

    /// <param name="pixelValues">[B, channels, image_size, image_size]</param>
    /// <returns>[B, patches, hidden], patches in row-major order.</returns>
    public override Tensor forward(Tensor pixelValues)
    {
        // No position-embedding interpolation is implemented, so only the configured size is accepted.
        if (pixelValues.dim() != 4 || pixelValues.shape[1] != channels || pixelValues.shape[2] != imageSize || pixelValues.shape[3] != imageSize)
            throw new DreamBoothException(
                $"pixel_values must be [batch, {channels}, {imageSize}, {imageSize}], got [{string.Join(", ", pixelValues.shape)}].");
        using var scope = NewDisposeScope();
        var x = pixelValues.to(projection.weight!.dtype, projection.weight.device);
        return projection.call(x).flatten(2).transpose(1, 2).MoveToOuterDisposeScope();
    }
}
