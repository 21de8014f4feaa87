// Mirrors diffusers src/diffusers/utils/pil_utils.py::make_image_grid (without its optional square resize).
namespace DreamBooth.Imaging;

/// <summary>Tiles equally sized images row by row into one image of cols × rows cells.</summary>
public static class ImageGrid
{
    public static RgbImage Make(IReadOnlyList<RgbImage> images, int rows, int cols)
    {
        if (rows <= 0 || cols <= 0) throw new DreamBoothException($"An image grid needs at least one row and column, got {rows}x{cols}.");
        if (images.Count != rows * cols)
            throw new DreamBoothException($"An image grid of {rows} rows x {cols} columns needs {rows * cols} images, got {images.Count}.");
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
