// Mirrors the timestep_spacing branches of diffusers' set_timesteps ("leading", "linspace", "trailing"; see table 2 of
// Lin et al. 2023). The classes differ in rounding and dtype, so each variant is spelled out once here.
namespace DreamBooth.Schedulers;

using static ScheduleMath;

internal static class TimestepSpacing
{
    /// <summary>DDPM / DDIM: integer timesteps, high to low.</summary>
    public static double[] Discrete(SchedulerConfig config, string className, int n)
    {
        var T = config.NumTrainTimesteps!.Value;
        return config.TimestepSpacing switch
        {
            "linspace" => Reverse(Round(Linspace(0, T - 1, n))),
            "leading" => Leading(T, n, config.StepsOffset!.Value),
            "trailing" => Round(Arange(T, 0, -(double)T / n)).Select(t => t - 1).ToArray(),
            _ => throw Unsupported(config, className),
        };
    }

    /// <summary>PNDM's <c>_timesteps</c>: the same integers as DDIM, low to high.</summary>
    public static double[] DiscreteAscending(SchedulerConfig config, string className, int n) => Reverse(Discrete(config, className, n));

    /// <summary>Euler / Euler-ancestral / LMS: float32 timesteps (fractional for linspace), high to low.</summary>
    public static double[] Sigma(SchedulerConfig config, string className, int n)
    {
        var T = config.NumTrainTimesteps!.Value;
        var values = config.TimestepSpacing switch
        {
            "linspace" => Reverse(Linspace(0, T - 1, n)),
            "leading" => Leading(T, n, config.StepsOffset!.Value),
            "trailing" => Round(Arange(T, 0, -(double)T / n)).Select(t => t - 1).ToArray(),
            _ => throw Unsupported(config, className),
        };
        return values.Select(v => (double)(float)v).ToArray();   // astype(np.float32) before the offset arithmetic is exact here
    }

    /// <summary>
    /// DPM-Solver: N + 1 points up to <paramref name="lastTimestep"/> with the last (t = 0 side) dropped, so the
    /// leading rule uses <c>last // (N + 1)</c> (SDXL config, N = 4: 801, 601, 401, 201).
    /// </summary>
    public static double[] DpmSolver(SchedulerConfig config, string className, int n, long lastTimestep)
    {
        var T = config.NumTrainTimesteps!.Value;
        return config.TimestepSpacing switch
        {
            "linspace" => Reverse(Round(Linspace(0, lastTimestep - 1, n + 1)))[..^1],
            "leading" => Leading(lastTimestep, n + 1, config.StepsOffset!.Value, dropLast: true),
            "trailing" => Round(Arange(lastTimestep, 0, -(double)T / n)).Select(t => t - 1).ToArray(),
            _ => throw Unsupported(config, className),
        };
    }

    // (arange(n) * (T // n))[::-1] + steps_offset
    private static double[] Leading(long T, int n, int stepsOffset, bool dropLast = false)
    {
        var ratio = T / n;
        var values = Enumerable.Range(0, n).Select(i => (double)(i * ratio)).Reverse().ToArray();
        if (dropLast) values = values[..^1];
        return values.Select(v => v + stepsOffset).ToArray();
    }

    private static DreamBoothException Unsupported(SchedulerConfig config, string className) =>
        new($"{className}: timestep_spacing '{config.TimestepSpacing}' is not supported; use leading, linspace or trailing.");
}
