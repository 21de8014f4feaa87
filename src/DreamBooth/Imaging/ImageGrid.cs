// Mirrors diffusers src/diffusers/utils/pil_utils.py::make_image_grid (without its optional square resize).
namespace DreamBooth.Imaging;

/// <summary>Tiles equally sized images row by row into one image of cols × rows cells.</summary>
public static class ImageGrid
{
    /// <summary>Exactly <paramref name="rows"/> × <paramref name="cols"/> images, as diffusers' make_image_grid asserts.</summary>
    public static RgbImage Make(IReadOnlyList<RgbImage> images, int rows, int cols)
    {
        if (rows <= 0 || cols <= 0) throw new DreamBoothException($"An image grid needs at least one row and column, got {rows}x{cols}.");
        if (images.Count != rows * cols)
            throw new DreamBoothException($"An image grid of {rows} rows x {cols} columns needs {rows * cols} images, got {images.Count}.");
        return Tile(images, rows, cols);
    }

    /// <summary>Any number of images in the <see cref="Layout"/> for that count; cells left over at the end stay black.</summary>
    public static RgbImage Make(IReadOnlyList<RgbImage> images)
    {
        if (images.Count == 0) throw new DreamBoothException("An image grid needs at least one image.");
        var (rows, cols) = Layout(images.Count);
        return Tile(images, rows, cols);
    }

    /// <summary>
    /// The most square grid, never taller than wide, for <paramref name="count"/> images: ⌊√count⌋ rows of as many columns
    /// as it takes (3 → 1×3, 5 → 2×3, 7 → 2×4, 4 → 2×2). Whenever count fills its grid exactly this is also the
    /// ⌈√count⌉-columns rule, so such grids look as they always did.
    /// </summary>
    public static (int Rows, int Cols) Layout(int count)
    {
        if (count <= 0) throw new ArgumentOutOfRangeException(nameof(count), $"An image grid needs at least one image, got {count}.");
        int rows = (int)Math.Sqrt(count);
        while ((rows + 1) * (rows + 1) <= count) rows++;   // floating-point √ may land just below an exact square
        while (rows * rows > count) rows--;
        return (rows, (count + rows - 1) / rows);
    }

    private static RgbImage Tile(IReadOnlyList<RgbImage> images, int rows, int cols)
    {
        int w = images[0].Width, h = images[0].Height;
        for (var i = 1; i < images.Count; i++)
        {
            if (images[i].Width != w || images[i].Height != h)
                throw new DreamBoothException($"Grid images must share one size: image 0 is {w}x{h}, image {i} is {images[i].Width}x{images[i].Height}.");
        }
        var grid = new RgbImage(checked(cols * w), checked(rows * h));
        var gridStride = grid.Width * 3;
        for (var i = 0; i < images.Count; i++)
        {
            int left = i % cols * w, top = i / cols * h;
            for (var y = 0; y < h; y++)
                Array.Copy(images[i].Pixels, y * w * 3, grid.Pixels, (top + y) * gridStride + left * 3, w * 3);
        }
        return grid;
    }
}
