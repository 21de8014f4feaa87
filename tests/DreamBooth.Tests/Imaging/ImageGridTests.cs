namespace DreamBooth.Tests.Imaging;

using DreamBooth.Imaging;

/// <summary>Grids of any image count (generate's --num-images 3/5/7 used to fail on the grid).</summary>
public sealed class ImageGridTests
{
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(2, 1, 2)]
    [InlineData(3, 1, 3)]
    [InlineData(4, 2, 2)]
    [InlineData(5, 2, 3)]
    [InlineData(6, 2, 3)]
    [InlineData(7, 2, 4)]
    [InlineData(8, 2, 4)]
    [InlineData(9, 3, 3)]
    [InlineData(10, 3, 4)]
    [InlineData(17, 4, 5)]
    [InlineData(99, 9, 11)]
    public void Layout_MostSquareNeverTallerThanWide(int count, int rows, int cols) =>
        Assert.Equal((rows, cols), ImageGrid.Layout(count));

    [Fact]
    public void Layout_CountsThatFillTheGrid_KeepTheOldCeilSqrtColumns()
    {
        // generate used cols = ⌈√n⌉, rows = n / cols and failed unless that was exact; those grids must not change.
        for (var n = 1; n <= 2000; n++)
        {
            int cols = (int)Math.Ceiling(Math.Sqrt(n)), rows = (n + cols - 1) / cols;
            if (rows * cols == n) Assert.Equal((rows, cols), ImageGrid.Layout(n));
            var (r, c) = ImageGrid.Layout(n);
            Assert.True(r * c >= n && r * (c - 1) < n && r <= c, $"{n}: {r}x{c}");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(7)]
    public void Make_AnyCount_TilesRowMajorAndLeavesTheRestBlack(int count)
    {
        var images = Enumerable.Range(0, count).Select(i => RgbImage.Filled(4, 3, (byte)(10 + i * 30), (byte)(i + 1), 200)).ToList();
        var grid = ImageGrid.Make(images);
        var (rows, cols) = ImageGrid.Layout(count);
        Assert.Equal((cols * 4, rows * 3), (grid.Width, grid.Height));
        for (var cell = 0; cell < rows * cols; cell++)
        {
            int left = cell % cols * 4, top = cell / cols * 3;
            var expected = cell < count ? ((byte)(10 + cell * 30), (byte)(cell + 1), (byte)200) : ((byte)0, (byte)0, (byte)0);
            Assert.Equal(expected, grid.GetPixel(left, top));
            Assert.Equal(expected, grid.GetPixel(left + 3, top + 2));
        }
    }

    [Fact]
    public void Make_NoImagesOrMixedSizes_Throws()
    {
        Assert.Contains("at least one image", Assert.Throws<DreamBoothException>(() => ImageGrid.Make([])).Message);
        var a = RgbImage.Filled(4, 4, 0, 0, 0);
        Assert.Contains("share one size", Assert.Throws<DreamBoothException>(() => ImageGrid.Make([a, a, RgbImage.Filled(4, 5, 0, 0, 0)])).Message);
    }
}
