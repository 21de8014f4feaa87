// Mirrors transformers src/transformers/image_transforms.py (resize, center_crop, rescale, normalize) as the image processors chain them
namespace DreamBooth.Models;

using DreamBooth.Imaging;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// Turns decoded RGB images into a model's <c>pixel_values</c> exactly as a transformers image processor configured
/// by <see cref="Config"/> does: resize with PIL's filter on uint8 (<see cref="PilResize"/>), optional centre crop,
/// then <c>float32(u8 × rescale_factor)</c> (the product in double, as NumPy does) and <c>(x − mean) / std</c> in float32.
/// </summary>
public abstract class BaseImageProcessor
{
    protected BaseImageProcessor(ImageProcessorConfig config) => Config = config;

    public ImageProcessorConfig Config { get; }

    /// <summary>The uint8 image after resize and centre crop, before rescale and normalise.</summary>
    public RgbImage ResizeAndCrop(RgbImage image)
    {
        if (Config.DoResize)
        {
            var (w, h) = OutputSize(image.Width, image.Height, Config.Size);
            if (w != image.Width || h != image.Height) image = PilResize.Resize(image, w, h, Config.Resample);
        }
        if (Config.DoCenterCrop) image = CenterCrop(image, Config.CropSize.Width!.Value, Config.CropSize.Height!.Value);
        return image;
    }

    /// <summary>[3, H, W] float32 of one uint8 image (no resize): rescale, then normalise, as configured.</summary>
    public float[] ToPixelValues(RgbImage image)
    {
        int plane = image.Width * image.Height;
        var values = new float[3 * plane];
        var px = image.Pixels;
        for (var c = 0; c < 3; c++)
        {
            float mean = (float)Config.ImageMean[c], std = (float)Config.ImageStd[c];
            for (var i = 0; i < plane; i++)
            {
                var x = Config.DoRescale ? (float)(px[i * 3 + c] * Config.RescaleFactor) : px[i * 3 + c];
                values[c * plane + i] = Config.DoNormalize ? (x - mean) / std : x;
            }
        }
        return values;
    }

    /// <summary>The processor's <c>pixel_values</c>: [B, 3, H, W] float32 on the CPU. All images must end up the same size.</summary>
    public Tensor Preprocess(IReadOnlyList<RgbImage> images)
    {
        if (images.Count == 0) throw new ArgumentException("No images to preprocess.", nameof(images));
        var prepared = images.Select(ResizeAndCrop).ToList();
        int w = prepared[0].Width, h = prepared[0].Height;
        if (prepared.Any(p => p.Width != w || p.Height != h))
            throw new DreamBoothException("Images of different sizes after resizing cannot form one batch (enable resize or crop).");
        var data = new float[prepared.Count * 3L * w * h];
        for (var b = 0; b < prepared.Count; b++)
            ToPixelValues(prepared[b]).CopyTo(data, b * 3L * w * h);
        return torch.tensor(data, [prepared.Count, 3, h, w], ScalarType.Float32);
    }

    /// <summary>
    /// Width and height after resizing: exact for height/width sizes; for a shortest edge s, the short side becomes s and
    /// the long one <c>int(s × long / short)</c> (truncated, as transformers' get_resize_output_image_size).
    /// </summary>
    public static (int Width, int Height) OutputSize(int width, int height, ImageSizeSpec size)
    {
        if (size.ShortestEdge is not int s) return (size.Width!.Value, size.Height!.Value);
        var portrait = width <= height;
        int shortSide = portrait ? width : height, longSide = portrait ? height : width;
        var newLong = (int)(s * (double)longSide / shortSide);
        return portrait ? (s, newLong) : (newLong, s);
    }

    /// <summary>transformers' center_crop: top = (h − ch) / 2, left = (w − cw) / 2 (floor); an image smaller than the crop is an error.</summary>
    public static RgbImage CenterCrop(RgbImage image, int width, int height)
    {
        if (image.Width < width || image.Height < height)
            throw new DreamBoothException($"Cannot centre-crop {width}x{height} from a {image.Width}x{image.Height} image.");
        if (image.Width == width && image.Height == height) return image;
        return image.Crop((image.Width - width) / 2, (image.Height - height) / 2, width, height);
    }
}
