// Mirrors PIL.Image in mode "RGB": 8-bit, three interleaved channels, row-major, no alpha.
namespace DreamBooth.Imaging;

using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// An 8-bit RGB image (PIL mode "RGB"): <see cref="Pixels"/> holds R,G,B bytes row by row, so
/// pixel (x, y) channel c is at <c>(y * Width + x) * 3 + c</c>.
/// </summary>
public sealed class RgbImage
{
    public int Width { get; }

    public int Height { get; }

    /// <summary>Interleaved RGB bytes, <c>Width * Height * 3</c> long.</summary>
    public byte[] Pixels { get; }

    public RgbImage(int width, int height, byte[] pixels)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"Image size {width}x{height} must be positive.");
        if (pixels.Length != (long)width * height * 3)
            throw new ArgumentException($"Expected {(long)width * height * 3} bytes for a {width}x{height} RGB image, got {pixels.Length}.", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    public RgbImage(int width, int height) : this(width, height, new byte[checked(width * height * 3)]) { }

    /// <summary>An image of one colour.</summary>
    public static RgbImage Filled(int width, int height, byte r, byte g, byte b)
    {
        var image = new RgbImage(width, height);
        var p = image.Pixels;
        for (var i = 0; i < p.Length; i += 3)
        {
            p[i] = r;
            p[i + 1] = g;
            p[i + 2] = b;
        }
        return image;
    }

    public byte this[int x, int y, int channel] => Pixels[(y * Width + x) * 3 + channel];

    public (byte R, byte G, byte B) GetPixel(int x, int y)
    {
        var i = (y * Width + x) * 3;
        return (Pixels[i], Pixels[i + 1], Pixels[i + 2]);
    }

    public void SetPixel(int x, int y, byte r, byte g, byte b)
    {
        var i = (y * Width + x) * 3;
        Pixels[i] = r;
        Pixels[i + 1] = g;
        Pixels[i + 2] = b;
    }

    /// <summary>The region [left, left+width) × [top, top+height), like PIL's <c>crop((left, top, right, bottom))</c> inside the image.</summary>
    public RgbImage Crop(int left, int top, int width, int height)
    {
        if (left < 0 || top < 0 || width <= 0 || height <= 0 || left + width > Width || top + height > Height)
            throw new ArgumentOutOfRangeException(nameof(left), $"Crop {width}x{height}+{left}+{top} does not fit a {Width}x{Height} image.");
        var result = new RgbImage(width, height);
        for (var y = 0; y < height; y++)
            Array.Copy(Pixels, ((top + y) * Width + left) * 3, result.Pixels, y * width * 3, width * 3);
        return result;
    }

    /// <summary>Mirror left-right (PIL's FLIP_LEFT_RIGHT, torchvision's hflip).</summary>
    public RgbImage FlipHorizontal()
    {
        var result = new RgbImage(Width, Height);
        for (var y = 0; y < Height; y++)
        {
            var row = y * Width * 3;
            for (var x = 0; x < Width; x++)
                Array.Copy(Pixels, row + x * 3, result.Pixels, row + (Width - 1 - x) * 3, 3);
        }
        return result;
    }

    /// <summary>
    /// torchvision's <c>ToTensor()</c>: float32 [3, H, W] with values <c>byte / 255</c>; with <paramref name="normalize"/>
    /// also <c>Normalize([0.5], [0.5])</c>, i.e. <c>(v - 0.5) / 0.5</c> in [-1, 1]. Same float32 operations as torch, so bit-equal.
    /// </summary>
    public Tensor ToTensor(bool normalize = false)
    {
        var plane = Width * Height;
        var data = new float[3 * plane];
        for (var i = 0; i < plane; i++)
        {
            for (var c = 0; c < 3; c++)
            {
                var v = Pixels[i * 3 + c] / 255f;
                data[c * plane + i] = normalize ? (v - 0.5f) / 0.5f : v;
            }
        }
        return torch.tensor(data, [3, Height, Width], ScalarType.Float32);
    }

    /// <summary>
    /// An image tensor [3, H, W] (or [1, 3, H, W]) with values in [0, 1] → bytes exactly as diffusers' <c>numpy_to_pil</c>:
    /// <c>(image * 255).round().astype("uint8")</c> in float32 with numpy's round-half-to-even. Values outside [0, 1] are
    /// clamped (diffusers clamps before this step) and NaN becomes 0 (what numpy's cast gives on x86).
    /// </summary>
    public static RgbImage FromTensor(Tensor image)
    {
        var shape = image.shape;
        if (shape.Length == 4 && shape[0] == 1) shape = shape[1..];
        if (shape.Length != 3 || shape[0] != 3 || shape[1] <= 0 || shape[2] <= 0)
            throw new DreamBoothException($"Expected an RGB image tensor of shape [3, H, W], got [{string.Join(", ", image.shape)}].");
        int height = (int)shape[1], width = (int)shape[2];
        float[] data;
        using (NewDisposeScope())   // detach/to/cpu each make a handle (a real copy when the dtype changes)
            data = image.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        var plane = width * height;
        var result = new RgbImage(width, height);
        for (var c = 0; c < 3; c++)
        {
            for (var i = 0; i < plane; i++)
            {
                var scaled = data[c * plane + i] * 255f; // float32 product, as numpy does for a float32 array
                var rounded = float.IsNaN(scaled) ? 0f : MathF.Round(scaled, MidpointRounding.ToEven);
                result.Pixels[i * 3 + c] = (byte)Math.Clamp(rounded, 0f, 255f);
            }
        }
        return result;
    }
}
