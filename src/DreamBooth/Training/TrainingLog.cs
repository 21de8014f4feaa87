namespace DreamBooth.Training;

using System.Text.Json;
using System.Text.Json.Nodes;
using DreamBooth.Imaging;
using DreamBooth.IO;
using SkiaSharp;

/// <summary>
/// OUTPUT/train_log.jsonl: one JSON object per optimizer step (step, loss, lr, …), flushed as written; optionally also
/// TensorBoard event files (loss, lr, grad_norm and validation images), as diffusers' scripts log with --report_to tensorboard.
/// </summary>
public sealed class TrainingLog : IDisposable
{
    private readonly string path;
    private readonly EventFileWriter? events;
    private StreamWriter writer;
    private int lastStep;

    /// <param name="tensorBoardDir">Where to start a new event file; null for the jsonl log alone.</param>
    /// <param name="startStep">The step the run continues from (0 for a new run): TensorBoard drops what earlier event
    /// files in the folder logged after it, as the jsonl log drops those lines.</param>
    public TrainingLog(string path, string? tensorBoardDir = null, int startStep = 0)
    {
        this.path = path;
        lastStep = File.Exists(path) ? Read(path).Select(e => e.Step).DefaultIfEmpty(0).Max() : 0;
        writer = Open(path);
        if (tensorBoardDir is not null)
        {
            events = new EventFileWriter(tensorBoardDir);
            events.SessionStart(startStep + 1);
        }
    }

    /// <summary>The event file being written, or null without TensorBoard logging.</summary>
    public string? EventFile => events?.Path;

    private static StreamWriter Open(string path) =>
        new(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read), new System.Text.UTF8Encoding(false));

    public void Write(int step, double loss, double instanceLoss, double? priorLoss, double lr, double gradNorm, int epoch, double elapsedSeconds)
    {
        // A run that restarts below the log's last step (e.g. killed before its first checkpoint, then resumed from
        // nothing) replaces the old lines from that step on: the log never holds a step twice.
        if (step <= lastStep)
        {
            writer.Dispose();
            TruncateAfter(path, step - 1);
            writer = Open(path);
        }
        lastStep = step;
        var line = new JsonObject
        {
            ["step"] = step,
            ["loss"] = loss,
            ["instance_loss"] = instanceLoss,
            ["prior_loss"] = priorLoss,
            ["lr"] = lr,
            ["grad_norm"] = double.IsFinite(gradNorm) ? gradNorm : null,
            ["epoch"] = epoch,
            ["elapsed_s"] = Math.Round(elapsedSeconds, 3),
            // The process's peak so far, native memory included: flat after the first steps unless something leaks.
            ["peak_rss_mb"] = Math.Round(ProcessMemory.PeakResidentMb(), 1),
        };
        writer.WriteLine(line.ToJsonString());
        writer.Flush();
        if (events is null) return;
        events.Scalar("loss", step, loss);
        events.Scalar("lr", step, lr);
        events.Scalar("grad_norm", step, gradNorm);
    }

    /// <summary>A validation grid (a PNG file) as a TensorBoard image; nothing without TensorBoard logging.</summary>
    public void Image(string tag, int step, string pngPath)
    {
        if (events is null) return;
        var png = File.ReadAllBytes(pngPath);
        // The size is in the IHDR chunk, which a PNG starts with: 8-byte signature, length, "IHDR", width, height.
        if (png.Length < 24 || png[12] != 'I' || png[13] != 'H' || png[14] != 'D' || png[15] != 'R')
            throw new InvalidOperationException($"{pngPath}: not a PNG file.");
        int width = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16));
        int height = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20));
        events.Image(tag, step, png, width, height);
    }

    public void Dispose()
    {
        writer.Dispose();
        events?.Dispose();
    }

    /// <summary>Keeps the lines of steps ≤ <paramref name="step"/> (a resumed run rewrites the rest).</summary>
    public static void TruncateAfter(string path, int step)
    {
        if (!File.Exists(path)) return;
        var kept = Read(path).Where(e => e.Step <= step).Select(e => e.Line).ToList();
        IO.AtomicFile.WriteAllText(path, kept.Count == 0 ? "" : string.Join('\n', kept) + "\n");
    }

    /// <summary>Every well-formed line (a line cut short by a crash is skipped).</summary>
    public static IReadOnlyList<(int Step, double Loss, string Line)> Read(string path)
    {
        var result = new List<(int, double, string)>();
        foreach (var line in File.ReadLines(path))
        {
            try
            {
                if (JsonNode.Parse(line) is JsonObject o && o["step"] is JsonValue s && o["loss"] is JsonValue l)
                    result.Add((s.GetValue<int>(), l.GetValue<double>(), line));
            }
            catch (JsonException)
            {
                // A partial last line from an interrupted run.
            }
        }
        return result;
    }

    /// <summary>A loss-curve PNG: the raw loss and a moving average.</summary>
    public static void PlotLoss(string logPath, string pngPath, int width = 800, int height = 400)
    {
        if (!File.Exists(logPath)) return;
        var points = Read(logPath).Where(p => double.IsFinite(p.Loss)).ToList();
        if (points.Count == 0) return;
        int window = Math.Max(1, points.Count / 20);
        var smooth = points.Select((p, i) => ((double)p.Step, points.Skip(Math.Max(0, i - window + 1)).Take(Math.Min(window, i + 1)).Average(q => q.Loss))).ToList();
        var panel = new PlotPanel("loss", [
            new PlotSeries("loss", [.. points.Select(p => ((double)p.Step, p.Loss))], new SKColor(120, 160, 220)),
            new PlotSeries($"moving average ({window})", smooth, new SKColor(200, 60, 40)),
        ]);
        PngWriter.Write(pngPath, LinePlot.Draw([panel], "step", width: width, panelHeight: height));
    }
}
