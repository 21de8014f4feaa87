namespace DreamBooth;

using System.Diagnostics;
using System.Globalization;

/// <summary>
/// This process's resident memory as Linux reports it (/proc/self/status), native allocations included, which .NET's
/// own counters miss; elsewhere the .NET process figures.
/// </summary>
public static class ProcessMemory
{
    /// <summary>Peak resident set since start or the last <see cref="ResetPeak"/>, in MB.</summary>
    public static double PeakResidentMb()
    {
        if (Read("VmHWM:") is { } mb) return mb;
        using var self = Process.GetCurrentProcess();
        return self.PeakWorkingSet64 / 1048576.0;
    }

    /// <summary>Resets the peak to the current resident set (Linux: 5 written to /proc/self/clear_refs); elsewhere nothing.</summary>
    public static void ResetPeak()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static double? Read(string key)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith(key, StringComparison.Ordinal))
                    return double.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return null;
    }
}
