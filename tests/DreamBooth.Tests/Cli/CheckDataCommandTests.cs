namespace DreamBooth.Tests.Cli;

using System.Text.Json;
using DreamBooth.Imaging;

public sealed class CheckDataCommandTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("check-data-cli").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void CheckData_FolderWithProblems_NamesEachFileAndFailsOnErrors()
    {
        var random = new Random(3);
        var image = new RgbImage(64, 64);
        random.NextBytes(image.Pixels);
        PngWriter.Write(Path.Combine(dir, "a.png"), image);
        File.Copy(Path.Combine(dir, "a.png"), Path.Combine(dir, "a-copy.png"));
        File.WriteAllBytes(Path.Combine(dir, "broken.jpg"), [1, 2, 3, 4]);
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "hello");

        var (code, output) = CliRunner.Run("check-data", dir, "--json");
        Assert.Equal(1, code);
        using var doc = JsonDocument.Parse(output);
        var findings = doc.RootElement.GetProperty("findings").EnumerateArray()
            .Select(f => (Severity: f.GetProperty("severity").GetString(), File: Path.GetFileName(f.GetProperty("file").GetString()), Message: f.GetProperty("message").GetString()))
            .ToList();
        Assert.Contains(findings, f => f.Severity == "error" && f.File == "broken.jpg");
        Assert.Contains(findings, f => f.File is "a.png" or "a-copy.png" && f.Message!.Contains("duplicate", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(findings, f => f.File == "notes.txt");
        Assert.Contains(findings, f => f.Message!.Contains("resolution", StringComparison.OrdinalIgnoreCase) || f.Message.Contains("512"));

        var (tableCode, table) = CliRunner.Run("check-data", dir);
        Assert.Equal(1, tableCode);
        Assert.Contains("broken.jpg", table);
    }
}
