namespace DreamBooth.Tests.Training;

using DreamBooth.Tests.Cli;
using DreamBooth.Tests.Imaging;
using DreamBooth.Training;

/// <summary>Nothing already saved is lost: one run per output folder, no shared folders, a log without duplicate steps.</summary>
public sealed class OutputSafetyTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("output-safety").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private string Photos()
    {
        var photos = Directory.CreateDirectory(Path.Combine(dir, "photos")).FullName;
        File.WriteAllBytes(Path.Combine(photos, "a.jpg"), TestImages.Jpeg(TestImages.Pattern(64, 64)));
        return photos;
    }

    [Fact]
    public void Train_OutputDirLockedByAnotherRun_RefusedNamingItsPid()
    {
        var output = Path.Combine(dir, "out");
        using (OutputDirLock.Acquire(output))
        {
            var (code, text) = CliRunner.Run("train", "-m", Fixtures.Path("sd15-tiny"), "--instance-data-dir", Photos(), "--instance-prompt", "sks dog",
                                             "--max-train-steps", "1", "--output-dir", output);
            Assert.True(code == 1, text);
            Assert.Equal($"error: --output-dir {output}: in use by another training run (PID {Environment.ProcessId}); wait for it to finish or choose another folder.", text.Trim());
        }
        // Released: the next run may take it.
        using var again = OutputDirLock.Acquire(output);
        Assert.False(File.Exists(Path.Combine(output, DreamBoothTrainer.LogFile)));
    }

    [Fact]
    public void Validated_OutputDirIsTheInstanceFolder_Refused()
    {
        var photos = Photos();
        var o = new TrainOptions { InstanceDataDir = photos, InstancePrompt = "sks dog", OutputDir = photos + Path.DirectorySeparatorChar };
        var e = Assert.ThrowsAny<DreamBoothException>(() => o.Validated());
        Assert.Contains("is the instance folder", e.Message);
    }

    [Fact]
    public void Validated_ClassDirIsTheInstanceFolder_Refused()
    {
        var photos = Photos();
        var link = Path.Combine(dir, "link");
        Directory.CreateSymbolicLink(link, photos);
        var o = new TrainOptions
        {
            InstanceDataDir = photos, InstancePrompt = "sks dog", OutputDir = Path.Combine(dir, "out"),
            WithPriorPreservation = true, ClassDataDir = link, ClassPrompt = "dog",
        };
        var e = Assert.ThrowsAny<DreamBoothException>(() => o.Validated());
        Assert.Contains("class_data_dir", e.Message);                             // the library names keys; the CLI shows flags
        Assert.Contains("is the instance folder", e.Message);
    }

    [Fact]
    public void TrainingLog_RunRestartedBelowItsLastStep_NoStepTwice()
    {
        // A run killed before its first checkpoint and resumed "from latest" starts again at step 1 on the old log.
        var path = Path.Combine(dir, DreamBoothTrainer.LogFile);
        using (var first = new TrainingLog(path))
            for (int step = 1; step <= 3; step++) first.Write(step, 0.5, 0.5, null, 1e-4, 1, 0, step);
        using (var second = new TrainingLog(path))
            for (int step = 1; step <= 2; step++) second.Write(step, 0.25, 0.25, null, 1e-4, 1, 0, step);
        Assert.Equal([(1, 0.25), (2, 0.25)], TrainingLog.Read(path).Select(e => (e.Step, e.Loss)));
    }
}
