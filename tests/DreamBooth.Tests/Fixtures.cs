namespace DreamBooth.Tests;

/// <summary>Locates test data: the copies in tests/fixtures (always present) and ../shared (optional).</summary>
internal static class Fixtures
{
    private static readonly Lazy<string> Root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = System.IO.Path.Combine(dir.FullName, "tests", "fixtures");
            if (File.Exists(System.IO.Path.Combine(candidate, "SHA256SUMS"))) return candidate;
        }
        throw new DirectoryNotFoundException("tests/fixtures not found above " + AppContext.BaseDirectory);
    });

    /// <summary>Path inside tests/fixtures, e.g. Path("sd15-tiny", "unet").</summary>
    public static string Path(params string[] parts) => System.IO.Path.Combine([Root.Value, .. parts]);

    /// <summary>The repository root (parent of tests/).</summary>
    public static string RepoRoot => Directory.GetParent(Directory.GetParent(Root.Value)!.FullName)!.FullName;

    /// <summary>../shared/&lt;parts&gt; beside the repository, or null when absent (tests then skip, saying so).</summary>
    public static string? Shared(params string[] parts)
    {
        var p = System.IO.Path.Combine([System.IO.Path.GetDirectoryName(RepoRoot)!, "shared", .. parts]);
        return File.Exists(p) || Directory.Exists(p) ? p : null;
    }

    public static readonly string[] Pipelines = ["sd15-tiny", "sd2-tiny-v", "sdxl-tiny"];
}
