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
/// <param name="Buckets">Aspect-ratio buckets: each image is scaled to cover its bucket and cropped to it, not to a square.</param>
public sealed record TrainTransformOptions(int Resolution = 512, bool CenterCrop = false, FlipMode Flip = FlipMode.None, AspectBuckets? Buckets = null);

/// <summary>A transformed training image and what SDXL's micro-conditioning needs to know about it.</summary>
/// <param name="Pixels">float32 [3, H, W] in [-1, 1]: the square resolution, or the image's bucket.</param>
/// <param name="OriginalSize">(height, width) of the upright source image, before resizing.</param>
/// <param name="CropTopLeft">(top, left) of the crop in the resized image.</param>
public sealed record TrainSample(Tensor Pixels, (int Height, int Width) OriginalSize, (int Top, int Left) CropTopLeft, bool Flipped);

/// <summary>
/// The random part of one transform: flip left-right, then crop at (top, left) of the resized image; with aspect
/// buckets also the bucket and resized size (null: the square resolution).
/// </summary>
public sealed record CropChoice(bool Flip, int Top, int Left, BucketChoice? Bucket = null);

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
    /// <param name="bucket">With buckets: the bucket to use instead of the image's own (a class image takes its instance's).</param>
    public CropChoice Choose(RgbImage image, Generator? generator = null, (int Width, int Height)? bucket = null)
    {
        var size = Options.Resolution;
        BucketChoice? b = Options.Buckets is not { } buckets ? null
            : bucket is { } forced ? AspectBuckets.Cover(image.Width, image.Height, forced.Width, forced.Height)
            : buckets.Select(image.Width, image.Height);
        var (height, width) = b is null ? ResizedSize(image, size) : (b.ResizedHeight, b.ResizedWidth);
        var (cropHeight, cropWidth) = b is null ? (size, size) : (b.Height, b.Width);
        var flip = Options.Flip switch
        {
            FlipMode.Always => true,
            FlipMode.Random => DrawUnit(generator) < 0.5,
            _ => false,
        };
        var (top, left) = Options.CenterCrop
            ? CenterCropOffsets(height, width, cropHeight, cropWidth)
            : RandomCropOffsets(height, width, cropHeight, cropWidth, generator);
        return new CropChoice(flip, top, left, b);
    }

    /// <summary>The bucket (width, height) <paramref name="image"/> trains in, or null without buckets. Draws nothing.</summary>
    public (int Width, int Height)? BucketOf(RgbImage image) =>
        Options.Buckets?.Select(image.Width, image.Height) is { } b ? (b.Width, b.Height) : null;

    /// <summary>Resize, flip and crop as <paramref name="choice"/> says; draws nothing.</summary>
    public TrainSample Apply(RgbImage image, CropChoice choice)
    {
        var resized = choice.Bucket is { } b
            ? (b.ResizedWidth == image.Width && b.ResizedHeight == image.Height ? image : PilResize.Bilinear(image, b.ResizedWidth, b.ResizedHeight))
            : ResizeShorterSide(image, Options.Resolution);
        var (cropWidth, cropHeight) = choice.Bucket is { } c ? (c.Width, c.Height) : (Options.Resolution, Options.Resolution);
        if (choice.Flip) resized = resized.FlipHorizontal();
        var (top, left) = (choice.Top, choice.Left);
        var cropped = top == 0 && left == 0 && resized.Width == cropWidth && resized.Height == cropHeight
            ? resized : resized.Crop(left, top, cropWidth, cropHeight);
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
    public static (int Top, int Left) CenterCropOffsets(int height, int width, int size) => CenterCropOffsets(height, width, size, size);

    /// <summary>Centre-crop offsets of a <paramref name="cropWidth"/>×<paramref name="cropHeight"/> crop.</summary>
    public static (int Top, int Left) CenterCropOffsets(int height, int width, int cropHeight, int cropWidth)
    {
        if (height < cropHeight || width < cropWidth) throw new DreamBoothException($"Cannot crop {cropWidth}x{cropHeight} from a {width}x{height} image.");
        return ((int)Math.Round((height - cropHeight) / 2.0, MidpointRounding.ToEven), (int)Math.Round((width - cropWidth) / 2.0, MidpointRounding.ToEven));
    }

    /// <summary>torchvision RandomCrop.get_params: uniform top in [0, h - th], then left in [0, w - tw].</summary>
    public static (int Top, int Left) RandomCropOffsets(int height, int width, int size, Generator? generator) =>
        RandomCropOffsets(height, width, size, size, generator);

    public static (int Top, int Left) RandomCropOffsets(int height, int width, int cropHeight, int cropWidth, Generator? generator)
    {
        if (height < cropHeight || width < cropWidth) throw new DreamBoothException($"Cannot crop {cropWidth}x{cropHeight} from a {width}x{height} image.");
        if (height == cropHeight && width == cropWidth) return (0, 0);
        var top = DrawInt(height - cropHeight + 1, generator);
        var left = DrawInt(width - cropWidth + 1, generator);
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
