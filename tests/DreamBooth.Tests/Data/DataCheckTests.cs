namespace DreamBooth.Tests.Data;

using DreamBooth.Data;
using DreamBooth.Imaging;
using DreamBooth.Tests.Imaging;
using Xunit.Abstractions;

public class DataCheckTests(ITestOutputHelper output)
{
    /// <summary>A photo-like 600×600 JPEG of ~40+ KB, distinct per seed.</summary>
    private static byte[] Photo(int seed, int width = 600, int height = 600) => TestImages.Jpeg(TestImages.Blobs(width, height, seed, noise: 12), 92);

    private static void Write(TestImages.TempDir dir, string name, byte[] bytes) => dir.Write(name, bytes);

    private DataCheckReport RunAndLog(string dir, DataCheckOptions? options = null)
    {
        var report = DataCheck.Run(dir, options);
        foreach (var f in report.Findings) output.WriteLine(f.ToString());
        return report;
    }

    private static DataFinding Single(DataCheckReport report, string file, string kind) =>
        Assert.Single(report.Findings, f => Path.GetFileName(f.File) == file && f.Kind == kind);

    [Fact]
    public void Run_CraftedFolder_ReportsEachProblem()
    {
        using var dir = new TestImages.TempDir();
        var a = Photo(1);
        Write(dir, "a.jpg", a);
        Write(dir, "b_copy.jpg", a);
        var near = TestImages.Jpeg(PilResize.Bilinear(ImageLoader.Decode(a, "a", out _), 560, 560), 70);
        Write(dir, "c_near.jpg", near);
        Write(dir, "d_small.png", PngWriter.Encode(TestImages.Blobs(200, 150, 4, noise: 0)));
        Write(dir, "e_wide.jpg", Photo(5, 1300, 600));
        Write(dir, "f_rotated.jpg", TestImages.WithExifOrientation(Photo(6, 600, 700), 6));
        var gray = TestImages.Blobs(600, 600, 7).Pixels.Where((_, i) => i % 3 == 0).Select(b => (int)b).ToArray();
        Write(dir, "g_gray.png", TestImages.HandPng(600, 600, 8, 0, gray));
        var rgba = new int[600 * 600 * 4];
        var rng = new Random(8);
        for (var i = 0; i < rgba.Length; i++) rgba[i] = i % 4 == 3 ? (i < 4000 ? 0 : 255) : rng.Next(256);
        Write(dir, "h_alpha.png", TestImages.HandPng(600, 600, 8, 6, rgba));
        var rgb16 = Enumerable.Range(0, 520 * 520 * 3).Select(_ => rng.Next(65536)).ToArray();
        Write(dir, "i_16bit.png", TestImages.HandPng(520, 520, 16, 2, rgb16));
        Write(dir, "j_cmyk.jpg", TestImages.CmykJpeg);
        var truncated = Photo(9);
        Write(dir, "k_truncated.jpg", truncated[..(truncated.Length / 2)]);
        Write(dir, "l_garbage.jpg", "definitely not a JPEG"u8.ToArray());
        Write(dir, "m_empty.png", []);
        Write(dir, "n_really_png.jpg", PngWriter.Encode(TestImages.Blobs(600, 600, 10, noise: 40)));
        Write(dir, "notes.txt", "prompt ideas"u8.ToArray());
        Write(dir, "photo.heic", [0, 0, 0, 24, .. "ftypheic"u8.ToArray()]);
        Directory.CreateDirectory(dir.File("sub"));

        var report = RunAndLog(dir.Path);

        var count = Single(report, Path.GetFileName(dir.Path), FindingKind.ImageCount);
        Assert.Equal((Severity.Warning, 11), (count.Severity, report.Images.Count));
        Assert.StartsWith("11 usable images", count.Message);
        Assert.Equal(FindingKind.ImageCount, report.Findings[0].Kind);

        Assert.Contains("exact duplicate of a.jpg", Single(report, "b_copy.jpg", FindingKind.Duplicate).Message);
        Assert.Contains("near duplicate of a.jpg", Single(report, "c_near.jpg", FindingKind.NearDuplicate).Message);
        Assert.DoesNotContain(report.Findings, f => f.Kind == FindingKind.NearDuplicate && Path.GetFileName(f.File) == "b_copy.jpg");

        var small = Single(report, "d_small.png", FindingKind.LowResolution);
        Assert.Equal(Severity.Warning, small.Severity);
        Assert.Contains("200x150", small.Message);
        Assert.Contains("2.17:1", Single(report, "e_wide.jpg", FindingKind.AspectRatio).Message);

        var rotated = Single(report, "f_rotated.jpg", FindingKind.ExifOrientation);
        Assert.Equal(Severity.Info, rotated.Severity);
        Assert.Contains("700x600", rotated.Message); // upright size
        Assert.Equal(Severity.Info, Single(report, "g_gray.png", FindingKind.Grayscale).Severity);
        Assert.Equal(Severity.Warning, Single(report, "h_alpha.png", FindingKind.Transparency).Severity);
        Assert.Equal(Severity.Info, Single(report, "i_16bit.png", FindingKind.SixteenBit).Severity);
        Assert.Equal(Severity.Info, Single(report, "j_cmyk.jpg", FindingKind.Cmyk).Severity);
        Assert.Contains("382 bytes", Single(report, "j_cmyk.jpg", FindingKind.TinyFile).Message);
        Assert.Equal(Severity.Info, Single(report, "n_really_png.jpg", FindingKind.ExtensionMismatch).Severity);

        foreach (var (file, reason) in new[] { ("k_truncated.jpg", "truncated"), ("l_garbage.jpg", "not an image"), ("m_empty.png", "empty file") })
        {
            var f = Single(report, file, FindingKind.Unreadable);
            Assert.Equal(Severity.Error, f.Severity);
            Assert.Contains(reason, f.Message);
            Assert.DoesNotContain(dir.Path, f.Message); // the path is in File, not repeated in the message
        }
        Assert.Equal(Severity.Info, Single(report, "notes.txt", FindingKind.Unsupported).Severity);
        Assert.Equal(Severity.Warning, Single(report, "photo.heic", FindingKind.Unsupported).Severity);
        Assert.Equal(Severity.Info, Single(report, "sub", FindingKind.Subdirectory).Severity);

        // Clean images get no findings at all.
        Assert.DoesNotContain(report.Findings, f => Path.GetFileName(f.File) == "a.jpg");
        Assert.Equal(3, report.ErrorCount);
        Assert.True(report.HasErrors);

        // Deterministic: the same folder gives the same report.
        Assert.Equal(report.Findings, DataCheck.Run(dir.Path).Findings);
    }

    [Theory]
    [InlineData(0, Severity.Error, "no usable images")]
    [InlineData(2, Severity.Warning, "2 usable images: DreamBooth works best with 3-10")]
    [InlineData(3, Severity.Info, "3 usable images")]
    [InlineData(11, Severity.Warning, "11 usable images")]
    public void Run_ImageCount_OutsideThreeToTen_Flagged(int count, Severity severity, string message)
    {
        using var dir = new TestImages.TempDir();
        // Small distinct images keep this fast; resolution 32 so they are not "low resolution".
        for (var i = 0; i < count; i++) Write(dir, $"{i:D2}.png", PngWriter.Encode(TestImages.Blobs(48, 48, 100 + i, noise: 60)));
        var report = RunAndLog(dir.Path, new DataCheckOptions(Resolution: 32, TinyFileBytes: 0));
        var finding = Assert.Single(report.Findings, f => f.Kind == FindingKind.ImageCount);
        Assert.Equal(severity, finding.Severity);
        Assert.Contains(message, finding.Message);
        Assert.Equal(dir.Path, finding.File);
    }

    [Fact]
    public void Run_Findings_FollowFileOrderThenPairs()
    {
        using var dir = new TestImages.TempDir();
        var dup = PngWriter.Encode(TestImages.Blobs(40, 30, 1));
        Write(dir, "z.png", dup);
        Write(dir, "B.png", PngWriter.Encode(TestImages.Blobs(40, 30, 2)));
        Write(dir, "a.png", dup);
        var report = RunAndLog(dir.Path);
        var files = report.Findings.Skip(1).Where(f => f.Kind != FindingKind.Duplicate).Select(f => Path.GetFileName(f.File)).ToList();
        Assert.Equal(files.OrderBy(f => f, StringComparer.Ordinal), files); // ordinal: "B" < "a" < "z"
        Assert.Equal("z.png", Path.GetFileName(report.Findings[^1].File)); // the later file of the pair is the duplicate
        Assert.Contains("of a.png", report.Findings[^1].Message);
    }

    [Fact]
    public void Run_MissingDirectory_Throws()
    {
        var e = Assert.Throws<DreamBoothException>(() => DataCheck.Run("/nonexistent/dreambooth-data"));
        Assert.Contains("no such directory", e.Message);
    }

    [Fact]
    public void PerceptualHash_ReencodeAndRescale_SmallDistance_DifferentImages_Large()
    {
        var a = TestImages.Blobs(300, 300, 21, noise: 3);
        var h = PerceptualHash.Compute(a);
        var reencoded = ImageLoader.Decode(TestImages.Jpeg(a, 75), "a", out _);
        Assert.InRange(PerceptualHash.Distance(h, PerceptualHash.Compute(reencoded)), 0, 4);
        Assert.InRange(PerceptualHash.Distance(h, PerceptualHash.Compute(PilResize.Bilinear(a, 150, 150))), 0, 4);
        for (var seed = 22; seed < 27; seed++)
            Assert.True(PerceptualHash.Distance(h, PerceptualHash.Compute(TestImages.Blobs(300, 300, seed, noise: 3))) > 8);
        Assert.Equal(32, System.Numerics.BitOperations.PopCount(h)); // median split: exactly half the bits set
    }

    [Fact]
    public void Run_SharedDogPhotos_OnlyTheCount()
    {
        var dog = Fixtures.Shared("data", "dreambooth", "dog");
        if (dog is null)
        {
            output.WriteLine("skipped: ../shared/data/dreambooth/dog not present");
            return;
        }
        var report = RunAndLog(dog);
        // Five square photos of 687–781 px, distinct (pHash distances 16–38), upright, colour: nothing to complain about.
        var finding = Assert.Single(report.Findings);
        Assert.Equal((Severity.Info, FindingKind.ImageCount, "5 usable images"), (finding.Severity, finding.Kind, finding.Message));
        Assert.All(report.Images, i => Assert.Equal((1, "JPEG", false), (i.Orientation, i.Format, i.Grayscale)));
    }
}
