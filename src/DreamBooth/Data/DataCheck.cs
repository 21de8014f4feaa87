// The checks behind `dreambooth check-data DIR`: what train_dreambooth.py would silently do (or crash on) with a folder.
namespace DreamBooth.Data;

using System.Globalization;
using System.Security.Cryptography;
using DreamBooth.Imaging;

/// <summary>
/// Inspects a DreamBooth instance (or class) image folder without training: every file is decoded exactly as training
/// will decode it. Findings come in a fixed order — the folder-wide count first, then each entry by ordinal file name
/// (its own findings in a fixed order), then duplicate pairs — so two runs over the same folder print the same report.
/// </summary>
public static class DataCheck
{
    // Image formats people drop into such folders that we do not decode: worth a warning, not just a skip notice.
    private static readonly HashSet<string> KnownImageExtensions =
        [".heic", ".heif", ".avif", ".tif", ".tiff", ".jxl", ".svg", ".psd", ".ico", ".dng", ".cr2", ".nef", ".arw", ".raw", ".jp2"];

    private sealed record Entry(string Path, ImageSourceInfo Info, byte[] Sha256, ulong Hash);

    public static DataCheckReport Run(string dir, DataCheckOptions? options = null)
    {
        options ??= new DataCheckOptions();
        if (!Directory.Exists(dir)) throw new DreamBoothException($"{dir}: no such directory.");
        var perFile = new List<DataFinding>();
        var entries = new List<Entry>();

        var paths = Directory.EnumerateFileSystemEntries(dir).OrderBy(p => System.IO.Path.GetFileName(p), StringComparer.Ordinal);
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                perFile.Add(new(Severity.Info, path, FindingKind.Subdirectory, "subdirectory: skipped (only files directly in the folder are used)"));
                continue;
            }
            var ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
            if (!ImageLoader.IsSupported(path))
            {
                perFile.Add(KnownImageExtensions.Contains(ext)
                    ? new(Severity.Warning, path, FindingKind.Unsupported, $"{ext} images are not supported: skipped; convert it to JPEG or PNG to use it")
                    : new(Severity.Info, path, FindingKind.Unsupported, "not a supported image file: skipped"));
                continue;
            }
            var entry = Inspect(path, perFile);
            if (entry is not null)
            {
                entries.Add(entry);
                AddImageFindings(entry, options, perFile);
            }
        }

        var findings = new List<DataFinding>();
        findings.AddRange(CountFindings(dir, entries.Count, options));
        findings.AddRange(perFile);
        findings.AddRange(DuplicateFindings(entries, options));
        return new DataCheckReport(dir, findings, entries.Select(e => e.Info).ToList());
    }

    private static Entry? Inspect(string path, List<DataFinding> findings)
    {
        try
        {
            var bytes = DreamBooth.IO.BoundedFile.ReadAllBytes(path, DreamBooth.IO.BoundedFile.MaxImageBytes);
            var image = ImageLoader.Decode(bytes, path, out var info);
            return new Entry(path, info, SHA256.HashData(bytes), PerceptualHash.Compute(image));
        }
        catch (DreamBoothException e)
        {
            var reason = e.Message.StartsWith(path + ": ", StringComparison.Ordinal) ? e.Message[(path.Length + 2)..] : e.Message;
            findings.Add(new(Severity.Error, path, FindingKind.Unreadable, $"unreadable: {reason.TrimEnd('.')}"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            findings.Add(new(Severity.Error, path, FindingKind.Unreadable, $"unreadable: {e.Message.TrimEnd('.')}"));
        }
        return null;
    }

    private static void AddImageFindings(Entry e, DataCheckOptions o, List<DataFinding> findings)
    {
        var info = e.Info;
        var path = e.Path;
        var size = $"{info.Width}x{info.Height}";
        var ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        if (!ExtensionMatches(ext, info.Format))
            findings.Add(new(Severity.Info, path, FindingKind.ExtensionMismatch, $"content is {info.Format} although the extension is {ext}: decoded by content"));
        if (info.FileBytes < o.TinyFileBytes)
            findings.Add(new(Severity.Warning, path, FindingKind.TinyFile, $"tiny file ({info.FileBytes:N0} bytes): likely a thumbnail or heavily compressed"));

        int shortSide = Math.Min(info.Width, info.Height), longSide = Math.Max(info.Width, info.Height);
        if (shortSide < o.Resolution)
        {
            var factor = (double)o.Resolution / shortSide;
            findings.Add(new(Severity.Warning, path, FindingKind.LowResolution,
                $"low resolution {size}: shorter side {shortSide} px < {o.Resolution} px, will be upscaled {F(factor)}x and look soft"));
        }
        var ratio = (double)longSide / shortSide;
        if (ratio > o.MaxAspectRatio)
            findings.Add(new(Severity.Warning, path, FindingKind.AspectRatio,
                $"extreme aspect ratio {F(ratio)}:1 ({size}): the square crop keeps only {100.0 / ratio:F0}% of it"));

        if (info.Orientation != 1)
            findings.Add(new(Severity.Info, path, FindingKind.ExifOrientation,
                $"EXIF orientation {info.Orientation} ({ExifOrientation.Describe(info.Orientation)}): will be applied, training sees it as {size}"));
        if (info.Grayscale)
            findings.Add(new(Severity.Info, path, FindingKind.Grayscale,
                info.BitDepth == 16
                    ? "16-bit grayscale: will be converted to 8-bit RGB (PIL-based trainers turn such PNGs almost white)"
                    : "grayscale: will be converted to RGB (three equal channels)"));
        if (info.Cmyk)
            findings.Add(new(Severity.Info, path, FindingKind.Cmyk, "CMYK JPEG: will be converted to RGB without its colour profile; colours may shift"));
        if (info.BitDepth == 16 && !info.Grayscale)
            findings.Add(new(Severity.Info, path, FindingKind.SixteenBit, "16 bits per channel: will be reduced to 8 bits"));
        if (info.HasTransparency)
            findings.Add(new(Severity.Warning, path, FindingKind.Transparency,
                "has transparent pixels: alpha is dropped (as PIL's convert(\"RGB\")), so whatever colour is stored under them shows"));
        else if (info.HasAlphaChannel)
            findings.Add(new(Severity.Info, path, FindingKind.Alpha, "has an alpha channel (fully opaque): it will be dropped"));
        if (info.FrameCount > 1)
            findings.Add(new(Severity.Info, path, FindingKind.Animated, $"animated ({info.FrameCount} frames): only the first frame is used"));
    }

    private static IEnumerable<DataFinding> CountFindings(string dir, int count, DataCheckOptions o)
    {
        if (count == 0)
            yield return new(Severity.Error, dir, FindingKind.ImageCount, "no usable images: nothing to train on");
        else if (count < o.MinImages)
            yield return new(Severity.Warning, dir, FindingKind.ImageCount, $"{count} usable image{(count == 1 ? "" : "s")}: DreamBooth works best with {o.MinImages}-{o.MaxImages}");
        else if (count > o.MaxImages)
            yield return new(Severity.Warning, dir, FindingKind.ImageCount, $"{count} usable images: DreamBooth works best with {o.MinImages}-{o.MaxImages}; more images need more steps");
        else
            yield return new(Severity.Info, dir, FindingKind.ImageCount, $"{count} usable images");
    }

    /// <summary>Each later file against the earliest earlier match: exact byte duplicates first, then perceptual near duplicates.</summary>
    private static IEnumerable<DataFinding> DuplicateFindings(List<Entry> entries, DataCheckOptions o)
    {
        var isCopy = new bool[entries.Count];
        for (var j = 0; j < entries.Count; j++)
        {
            for (var i = 0; i < j; i++)
            {
                if (!entries[i].Sha256.AsSpan().SequenceEqual(entries[j].Sha256)) continue;
                isCopy[j] = true;
                yield return new(Severity.Warning, entries[j].Path, FindingKind.Duplicate,
                    $"exact duplicate of {System.IO.Path.GetFileName(entries[i].Path)} (same SHA-256): it will be seen twice as often");
                break; // report against the first copy only
            }
        }
        // Copies are already reported; comparing them again would repeat each near duplicate once per copy.
        for (var j = 0; j < entries.Count; j++)
        {
            if (isCopy[j]) continue;
            for (var i = 0; i < j; i++)
            {
                if (isCopy[i]) continue;
                var d = PerceptualHash.Distance(entries[i].Hash, entries[j].Hash);
                if (d > o.NearDuplicateDistance) continue;
                yield return new(Severity.Warning, entries[j].Path, FindingKind.NearDuplicate,
                    $"near duplicate of {System.IO.Path.GetFileName(entries[i].Path)} (pHash distance {d}/64 <= {o.NearDuplicateDistance}): adds little variety");
                break; // against the earliest match only
            }
        }
    }

    private static bool ExtensionMatches(string ext, string format) => format switch
    {
        "JPEG" => ext is ".jpg" or ".jpeg" or ".jpe" or ".jfif",
        "PNG" => ext == ".png",
        "WebP" => ext == ".webp",
        "BMP" => ext == ".bmp",
        "GIF" => ext == ".gif",
        _ => false,
    };

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
}
