namespace DreamBooth.Imaging;

using System.Globalization;
using SkiaSharp;

/// <summary>One line of a plot: its legend label, points in x order, colour; <paramref name="Dots"/> marks each point.</summary>
public sealed record PlotSeries(string Label, IReadOnlyList<(double X, double Y)> Points, SKColor Color, bool Dots = false);

/// <summary>A panel of a plot: its own y range (from its series), title and lines.</summary>
public sealed record PlotPanel(string Title, IReadOnlyList<PlotSeries> Series);

/// <summary>A vertical line across every panel at <paramref name="X"/>, labelled at the top.</summary>
public sealed record PlotMarker(double X, string Label, SKColor Color);

/// <summary>
/// Line charts drawn with SkiaSharp (loss curves, metrics per checkpoint): panels stacked over one x axis, each
/// with its own y range, a legend and optional vertical markers.
/// </summary>
public static class LinePlot
{
    private const float Margin = 50;

    public static RgbImage Draw(IReadOnlyList<PlotPanel> panels, string xLabel, IReadOnlyList<PlotMarker>? markers = null,
                                int width = 800, int panelHeight = 400)
    {
        if (panels.Count == 0 || panels.Any(p => p.Series.Count == 0 || p.Series.Any(s => s.Points.Count == 0)))
            throw new ArgumentException("Every panel needs at least one series with points.", nameof(panels));
        int height = panels.Count * panelHeight;
        using var surface = SKSurface.Create(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Premul));
        var canvas = surface.Canvas;
        canvas.Clear(SKColors.White);
        var xs = panels.SelectMany(p => p.Series).SelectMany(s => s.Points).Select(p => p.X).ToList();
        double minX = Math.Min(0, xs.Min()), maxX = Math.Max(xs.Max(), minX + 1);
        float X(double x) => Margin + (float)((x - minX) / (maxX - minX) * (width - 2 * Margin));
        using var font = new SKFont { Size = 12 };
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        using var axis = new SKPaint { Color = SKColors.Gray, StrokeWidth = 1, IsAntialias = true };
        string F(double v) => v.ToString("G4", CultureInfo.InvariantCulture);

        for (int i = 0; i < panels.Count; i++)
        {
            var panel = panels[i];
            float top = i * panelHeight + Margin, bottom = (i + 1) * panelHeight - Margin;
            var ys = panel.Series.SelectMany(s => s.Points).Select(p => p.Y).ToList();
            double minY = ys.Min(), maxY = ys.Max();
            if (maxY - minY < 1e-12) (minY, maxY) = (minY - 0.5, maxY + 0.5);
            float Y(double y) => bottom - (float)((y - minY) / (maxY - minY) * (bottom - top));
            canvas.DrawLine(Margin, bottom, width - Margin, bottom, axis);
            canvas.DrawLine(Margin, top, Margin, bottom, axis);
            canvas.DrawText($"{panel.Title} {F(maxY)}", 4, top - 8, font, text);
            canvas.DrawText(F(minY), 4, bottom + 14, font, text);
            canvas.DrawText(F(minX), Margin, bottom + 30, font, text);
            canvas.DrawText($"{xLabel} {F(maxX)}", width - Margin - 60, bottom + 30, font, text);
            float legendX = width / 2f;                                           // legend on the title's line, above the data
            for (int s = 0; s < panel.Series.Count; s++)
            {
                var series = panel.Series[s];
                using var paint = new SKPaint { Color = series.Color, StrokeWidth = 1.5f, IsAntialias = true, Style = SKPaintStyle.Stroke };
                using var path = new SKPath();
                path.MoveTo(X(series.Points[0].X), Y(series.Points[0].Y));
                foreach (var (x, y) in series.Points.Skip(1)) path.LineTo(X(x), Y(y));
                canvas.DrawPath(path, paint);
                if (series.Dots)
                {
                    using var fill = new SKPaint { Color = series.Color, IsAntialias = true, Style = SKPaintStyle.Fill };
                    foreach (var (x, y) in series.Points) canvas.DrawCircle(X(x), Y(y), 3, fill);
                }
                if (series.Label.Length > 0)
                {
                    canvas.DrawLine(legendX, top - 12, legendX + 20, top - 12, paint);
                    canvas.DrawText(series.Label, legendX + 26, top - 8, font, text);
                    legendX += 26 + font.MeasureText(series.Label) + 20;
                }
            }
            markers ??= [];
            for (int m = 0; m < markers.Count; m++)
            {
                var marker = markers[m];
                using var dash = SKPathEffect.CreateDash([6, 4], 0);
                using var paint = new SKPaint { Color = marker.Color, StrokeWidth = 1, IsAntialias = true, PathEffect = dash };
                canvas.DrawLine(X(marker.X), top, X(marker.X), bottom, paint);
                using var label = new SKPaint { Color = marker.Color, IsAntialias = true };
                // Labels right of the line, or left of it in the right half, so that they stay inside the image.
                float labelX = X(marker.X) > width / 2f ? X(marker.X) - 4 - font.MeasureText(marker.Label) : X(marker.X) + 4;
                if (i == 0) canvas.DrawText(marker.Label, labelX, top + 12 + 14 * m, font, label);
            }
        }

        using var image = surface.Snapshot();
        using var pixels = image.PeekPixels();
        var rgb = new RgbImage(width, height);
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                var c = pixels.GetPixelColor(x, y);
                rgb.SetPixel(x, y, c.Red, c.Green, c.Blue);
            }
        return rgb;
    }
}
