namespace DreamBooth.Training;

/// <summary>
/// One training run per output folder: two runs into one folder would overwrite each other's weights, checkpoints
/// and log while both report success. The lock is an OS file lock, so a killed run never leaves a stale one.
/// </summary>
public sealed class OutputDirLock : IDisposable
{
    public const string LockFile = ".dreambooth-train.lock";
    public const string PidFile = ".dreambooth-train.pid";
    private readonly FileStream stream;
    private readonly string pidPath;

    private OutputDirLock(FileStream stream, string pidPath)
    {
        this.stream = stream;
        this.pidPath = pidPath;
    }

    /// <summary>Creates <paramref name="dir"/> if needed and locks it; throws naming the holder's PID when another run has it.</summary>
    public static OutputDirLock Acquire(string dir)
    {
        Directory.CreateDirectory(dir);
        var pidPath = Path.Combine(dir, PidFile);
        FileStream stream;
        try
        {
            // FileShare.None is an exclusive flock on Unix (and a share lock on Windows), held until the process ends.
            stream = new FileStream(Path.Combine(dir, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            string? pid = null;
            try
            {
                pid = File.ReadAllText(pidPath).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The holder is starting or ending: the PID is not known.
            }
            var who = int.TryParse(pid, out var n) ? $"another training run (PID {n})" : "another training run";
            throw new DreamBoothException($"--output-dir {dir}: in use by {who}; wait for it to finish or choose another folder.");
        }
        File.WriteAllText(pidPath, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return new OutputDirLock(stream, pidPath);
    }

    public void Dispose()
    {
        // The lock file itself stays: deleting it would let a run that opened it just before lock a dead file.
        try
        {
            File.Delete(pidPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a stale PID file is overwritten by the next run.
        }
        stream.Dispose();
    }
}
