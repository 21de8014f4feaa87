namespace DreamBooth.Tests.Cli;

/// <summary>
/// The --help text of every command, compared with Snapshots/*.txt, so a refactoring of how options are declared
/// cannot change what users read by accident. After an intended change, run the tests with
/// DREAMBOOTH_UPDATE_SNAPSHOTS=1 to rewrite the files, and review the diff.
/// </summary>
public sealed class HelpSnapshotTests
{
    private static string SnapshotPath(string name) =>
        Path.Combine(Fixtures.RepoRoot, "tests", "DreamBooth.Tests", "Cli", "Snapshots", name + ".txt");

    [Theory]
    [InlineData("dreambooth")]
    [InlineData("train")]
    [InlineData("generate")]
    [InlineData("inspect")]
    [InlineData("env")]
    [InlineData("check-data")]
    [InlineData("evaluate")]
    [InlineData("demo")]
    public void Help_MatchesSnapshot(string command)
    {
        var (code, output) = command == "dreambooth" ? CliRunner.Run("--help") : CliRunner.Run(command, "--help");
        Assert.True(code == 0, output);
        var actual = Normalize(output);
        var path = SnapshotPath(command);
        if (Environment.GetEnvironmentVariable("DREAMBOOTH_UPDATE_SNAPSHOTS") == "1")
        {
            File.WriteAllText(path, actual);
            return;
        }
        Assert.True(File.Exists(path), $"{path} is missing: run with DREAMBOOTH_UPDATE_SNAPSHOTS=1 to create it.");
        var expected = Normalize(File.ReadAllText(path));
        if (expected == actual) return;
        // Name the first differing line: a whole-text diff of a 100-line help is unreadable in a test report.
        var (want, got) = (expected.Split('\n'), actual.Split('\n'));
        int line = 0;
        while (line < Math.Min(want.Length, got.Length) && want[line] == got[line]) line++;
        Assert.Fail($"{command} --help differs from {path} at line {line + 1}:\n" +
                    $"  expected: {(line < want.Length ? want[line] : "(end)")}\n" +
                    $"  actual:   {(line < got.Length ? got[line] : "(end)")}");
    }

    // Trailing spaces come from Spectre's grid padding, and git may check the files out with CRLF.
    private static string Normalize(string text) =>
        string.Join('\n', text.ReplaceLineEndings("\n").Split('\n').Select(l => l.TrimEnd())).TrimEnd() + "\n";
}
