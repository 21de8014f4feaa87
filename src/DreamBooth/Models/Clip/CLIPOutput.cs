// Mirrors transformers src/transformers/models/clip/modeling_clip.py::CLIPOutput
namespace DreamBooth.Models.Clip;

using static TorchSharp.torch;

/// <summary>Image–text similarity of a <see cref="CLIPModel"/> call. Owns its tensors.</summary>
/// <param name="LogitsPerImage">[images, texts]: exp(logit_scale) × cosine similarity.</param>
/// <param name="LogitsPerText">[texts, images]: its transpose.</param>
/// <param name="TextEmbeds">[texts, projection_dim], L2-normalised.</param>
/// <param name="ImageEmbeds">[images, projection_dim], L2-normalised.</param>
public sealed record CLIPOutput(Tensor LogitsPerImage, Tensor LogitsPerText, Tensor TextEmbeds, Tensor ImageEmbeds) : IDisposable
{
    public void Dispose()
    {
        LogitsPerImage.Dispose();
        LogitsPerText.Dispose();
        TextEmbeds.Dispose();
        ImageEmbeds.Dispose();
    }
}
