namespace DreamBooth.Training;

using System.Globalization;
using System.Text.Json;

/// <summary>
/// OUTPUT/checkpoint-STEP folders, written atomically: everything goes to a temporary sibling that is renamed
/// into place last, so a crash (or kill -9) mid-save never leaves a checkpoint that looks complete.
/// </summary>
public sealed class CheckpointStore(string outputDir)
{
    public const string StateFile = "trainer_state.json";
    private const string Prefix = "checkpoint-";

    /// <summary>Complete checkpoints, oldest first.</summary>
    public IReadOnlyList<(int Step, string Path)> List()
    {
        if (!Directory.Exists(outputDir)) return [];
        return Directory.EnumerateDirectories(outputDir, Prefix + "*")
            .Select(d => (Dir: d, Name: Path.GetFileName(d)))
            .Where(d => int.TryParse(d.Name.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out _)
                        && File.Exists(Path.Combine(d.Dir, StateFile)))
            .Select(d => (int.Parse(d.Name.AsSpan(Prefix.Length), CultureInfo.InvariantCulture), d.Dir))
            .OrderBy(d => d.Item1)
            .ToList();
    }

    /// <summary>"latest" or a path; null when "latest" finds nothing (diffusers then starts a new run).</summary>
    public string? Find(string spec)
    {
        if (spec == "latest") return List().Select(c => c.Path).LastOrDefault();
        var path = Directory.Exists(spec) ? spec : Path.Combine(outputDir, spec);
        if (!File.Exists(Path.Combine(path, StateFile)))
            throw new DreamBoothException($"--resume-from-checkpoint {spec}: not a complete checkpoint folder (no {StateFile}).");
        return path;
    }

    /// <summary>Writes checkpoint-<paramref name="step"/> through <paramref name="write"/> (which fills a folder), then prunes.</summary>
    public string Save(int step, TrainerState state, Action<string> write, int? totalLimit)
    {
        Directory.CreateDirectory(outputDir);
        var final = Path.Combine(outputDir, Prefix + step.ToString(CultureInfo.InvariantCulture));
        var temp = final + $".tmp-{Environment.ProcessId}";
        if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        Directory.CreateDirectory(temp);
        try
        {
            write(temp);
            IO.AtomicFile.WriteAllText(Path.Combine(temp, StateFile), JsonSerializer.Serialize(state));
            if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
            Directory.Move(temp, final);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new DreamBoothException($"Cannot write checkpoint {final}: {e.Message} Earlier checkpoints are intact.");
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
        if (totalLimit is int limit)
            foreach (var (_, old) in List().SkipLast(limit)) TryDelete(old);
        return final;
    }

    public static TrainerState LoadState(string checkpoint)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(Path.Combine(checkpoint, StateFile)))
                   ?? throw new DreamBoothException($"{checkpoint}: empty {StateFile}.");
        }
        catch (JsonException e)
        {
            throw new DreamBoothException($"{checkpoint}/{StateFile}: corrupt ({e.Message}).");
        }
    }

    /// <summary>Leftovers of saves that were interrupted.</summary>
    public void RemoveIncomplete()
    {
        if (!Directory.Exists(outputDir)) return;
        foreach (var d in Directory.EnumerateDirectories(outputDir, Prefix + "*.tmp-*")) TryDelete(d);
    }

    private static void TryDelete(string dir)
    {
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
