// Mirrors diffusers examples/dreambooth/train_dreambooth.py::DreamBoothDataset.image_transforms (torchvision
// Resize(BILINEAR) → CenterCrop/RandomCrop → ToTensor → Normalize([0.5], [0.5])), with the optional flip of
// train_dreambooth_lora_sdxl.py (applied after the resize, before the crop) and its crop bookkeeping.
namespace DreamBooth.Imaging;

using TorchSharp;
using static TorchSharp.torch;

/// <summary>How to flip training images left-right.</summary>
public enum FlipMode
{
    /// <summary>Never (train_dreambooth.py).</summary>
    None,

    /// <summary>With probability 0.5 per call (<c>--random_flip</c>).</summary>
    Random,

    /// <summary>Every time (a fixed mirrored copy).</summary>
    Always,
}

/// <param name="Resolution">Target square side; the shorter side is resized to it first.</param>
/// <param name="CenterCrop">True: torchvision CenterCrop; false: RandomCrop.</param>
public sealed record TrainTransformOptions(int Resolution = 512, bool CenterCrop = false, FlipMode Flip = FlipMode.None);

/// <summary>A transformed training image and what SDXL's micro-conditioning needs to know about it.</summary>
/// <param name="Pixels">float32 [3, Resolution, Resolution] in [-1, 1].</param>
/// <param name="OriginalSize">(height, width) of the upright source image, before resizing.</param>
/// <param name="CropTopLeft">(top, left) of the crop in the resized image.</param>
public sealed record TrainSample(Tensor Pixels, (int Height, int Width) OriginalSize, (int Top, int Left) CropTopLeft, bool Flipped);

/// <summary>The random part of one transform: flip left-right, then crop at (top, left) of the resized image.</summary>
public sealed record CropChoice(bool Flip, int Top, int Left);

/// <summary>
/// The DreamBooth image transform. Random choices use a torch <see cref="Generator"/> (or torch's global generator
/// when null) exactly as torchvision draws them: the flip is <c>torch.rand(1) &lt; 0.5</c> (RandomHorizontalFlip),
/// drawn first; the crop is <c>torch.randint(0, h - th + 1, (1,))</c> then <c>torch.randint(0, w - tw + 1, (1,))</c>
/// (RandomCrop.get_params), skipped when the image is already the crop size. Same seed, same draws, same crops.
/// </summary>
public sealed class TrainTransforms
{
    public TrainTransformOptions Options { get; }

    public TrainTransforms(TrainTransformOptions options)
    {
        if (options.Resolution <= 0) throw new DreamBoothException($"Resolution must be positive, got {options.Resolution}.");
        Options = options;
    }

    /// <summary>Loads <paramref name="path"/> (EXIF-upright RGB) and transforms it.</summary>
    public TrainSample Apply(string path, Generator? generator = null) => Apply(ImageLoader.Load(path), generator);

    public TrainSample Apply(RgbImage image, Generator? generator = null) => Apply(image, Choose(image, generator));

    /// <summary>
    /// Draws the random choices for <paramref name="image"/> (flip, then crop), as torchvision draws them. Kept apart from
    /// <see cref="Apply(RgbImage, CropChoice)"/> so a resumed run can redo an already-drawn batch without drawing again.
    /// </summary>
    public CropChoice Choose(RgbImage image, Generator? generator = null)
    {
        var size = Options.Resolution;
        var (height, width) = ResizedSize(image, size);
        var flip = Options.Flip switch
        {
            FlipMode.Always => true,
            FlipMode.Random => DrawUnit(generator) < 0.5,
            _ => false,
        };
        var (top, left) = Options.CenterCrop ? CenterCropOffsets(height, width, size) : RandomCropOffsets(height, width, size, generator);
        return new CropChoice(flip, top, left);
    }

    /// <summary>Resize, flip and crop as <paramref name="choice"/> says; draws nothing.</summary>
    public TrainSample Apply(RgbImage image, CropChoice choice)
    {
        var size = Options.Resolution;
        var resized = ResizeShorterSide(image, size);
        if (choice.Flip) resized = resized.FlipHorizontal();
        var (top, left) = (choice.Top, choice.Left);
        var cropped = top == 0 && left == 0 && resized.Width == size && resized.Height == size ? resized : resized.Crop(left, top, size, size);
        return new TrainSample(cropped.ToTensor(normalize: true), (image.Height, image.Width), (top, left), choice.Flip);
    }

    // The (height, width) ResizeShorterSide gives.
    private static (int Height, int Width) ResizedSize(RgbImage image, int size)
    {
        var (w, h) = (image.Width, image.Height);
        var (shortSide, longSide) = w <= h ? (w, h) : (h, w);
        var newLong = (int)((double)size * longSide / shortSide);
        return w <= h ? (newLong, size) : (size, newLong);
    }

    /// <summary>
    /// torchvision <c>Resize(size)</c> on a PIL image: the shorter side becomes <paramref name="size"/>, the longer
    /// <c>int(size * long / short)</c> (truncated), resampled with PIL's bilinear filter. Unchanged when already that size.
    /// </summary>
    public static RgbImage ResizeShorterSide(RgbImage image, int size)
    {
        var (newH, newW) = ResizedSize(image, size);
        return newW == image.Width && newH == image.Height ? image : PilResize.Bilinear(image, newW, newH);
    }

    /// <summary>torchvision center_crop offsets: <c>int(round((h - th) / 2.0))</c>; Python rounds halves to even, as does Math.Round.</summary>
    public static (int Top, int Left) CenterCropOffsets(int height, int width, int size)
    {
        if (height < size || width < size) throw new DreamBoothException($"Cannot crop {size}x{size} from a {width}x{height} image.");
        return ((int)Math.Round((height - size) / 2.0, MidpointRounding.ToEven), (int)Math.Round((width - size) / 2.0, MidpointRounding.ToEven));
    }

    /// <summary>torchvision RandomCrop.get_params: uniform top in [0, h - th], then left in [0, w - tw].</summary>
    public static (int Top, int Left) RandomCropOffsets(int height, int width, int size, Generator? generator)
    {
        if (height < size || width < size) throw new DreamBoothException($"Cannot crop {size}x{size} from a {width}x{height} image.");
        if (height == size && width == size) return (0, 0);
        var top = DrawInt(height - size + 1, generator);
        var left = DrawInt(width - size + 1, generator);
        return (top, left);
    }

    private static int DrawInt(int high, Generator? generator)
    {
        using var t = torch.randint(0L, (long)high, new long[] { 1 }, ScalarType.Int64, generator: generator);
        return (int)t.item<long>();
    }

    private static float DrawUnit(Generator? generator)
    {
        using var t = torch.rand(new long[] { 1 }, ScalarType.Float32, generator: generator);
        return t.item<float>();
    }
}
