// Findings of `dreambooth check-data`: what DataCheck reports about a training image folder.
namespace DreamBooth.Data;

using DreamBooth.Imaging;

public enum Severity
{
    /// <summary>Something the loader will handle (a conversion, a skipped file).</summary>
    Info,

    /// <summary>Training will run but results may suffer.</summary>
    Warning,

    /// <summary>A file training cannot use, or a folder it cannot train on.</summary>
    Error,
}

/// <summary>The stable identifiers of <see cref="DataFinding.Kind"/>.</summary>
public static class FindingKind
{
    public const string ImageCount = "image-count";
    public const string Unreadable = "unreadable";
    public const string Unsupported = "unsupported";
    public const string Subdirectory = "subdirectory";
    public const string ExtensionMismatch = "extension-mismatch";
    public const string TinyFile = "tiny-file";
    public const string LowResolution = "low-resolution";
    public const string AspectRatio = "aspect-ratio";
    public const string ExifOrientation = "exif-orientation";
    public const string Grayscale = "grayscale";
    public const string Cmyk = "cmyk";
    public const string SixteenBit = "16-bit";
    public const string Alpha = "alpha";
    public const string Transparency = "transparency";
    public const string Animated = "animated";
    public const string Duplicate = "duplicate";
    public const string NearDuplicate = "near-duplicate";
}

/// <summary>One observation about the data folder; <see cref="File"/> is the image's path (the folder's for folder-wide findings).</summary>
public sealed record DataFinding(Severity Severity, string File, string Kind, string Message)
{
    public override string ToString() => $"{Severity.ToString().ToLowerInvariant()}: {System.IO.Path.GetFileName(File)}: {Message} [{Kind}]";
}

/// <param name="Resolution">Training resolution: images with a shorter side below it will be upscaled.</param>
/// <param name="MinImages">Fewer readable images than this is a warning (DreamBooth works best with 3–10).</param>
/// <param name="MaxAspectRatio">Long/short side above this is a warning: the square crop discards much of the image.</param>
/// <param name="NearDuplicateDistance">
/// Two images whose 64-bit pHashes differ in at most this many bits are near duplicates. Both hashes have exactly 32
/// bits set, so distances are even. On the shared dog/backpack/poop_emoji photos, JPEG re-encodes, rescales and
/// brightness shifts moved 0–2 bits, a 90% crop 4–16, and distinct photos of one subject were 16–40 apart: 8 flags
/// copies (and some slight crops) without flagging different shots.
/// </param>
/// <param name="TinyFileBytes">An image file smaller than this is likely a thumbnail or over-compressed.</param>
public sealed record DataCheckOptions(
    int Resolution = 512, int MinImages = 3, int MaxImages = 10, double MaxAspectRatio = 2.0,
    int NearDuplicateDistance = 8, long TinyFileBytes = 10 * 1024);

/// <summary>The outcome of <see cref="DataCheck.Run"/>: findings in a stable order, and what was learned about each readable image.</summary>
public sealed record DataCheckReport(string Directory, IReadOnlyList<DataFinding> Findings, IReadOnlyList<ImageSourceInfo> Images)
{
    public int ErrorCount => Findings.Count(f => f.Severity == Severity.Error);

    public int WarningCount => Findings.Count(f => f.Severity == Severity.Warning);

    public bool HasErrors => ErrorCount > 0;
}
