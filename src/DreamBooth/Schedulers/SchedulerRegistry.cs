// Mirrors diffusers' `<SchedulerClass>.from_config(pipe.scheduler.config, **overrides)` scheduler swap, by name.
namespace DreamBooth.Schedulers;

/// <summary>
/// Creates schedulers by diffusers class name or short alias (case-insensitive). The source config's explicit keys are
/// kept and absent keys take the new class's defaults (see <see cref="SchedulerConfig.Resolve"/>); aliases may add
/// explicit overrides (dpm++2m-karras = DPMSolverMultistepScheduler with use_karras_sigmas = true).
/// </summary>
public static class SchedulerRegistry
{
    private sealed record Entry(string ClassName, Func<SchedulerConfig?, IScheduler> Create, Func<SchedulerConfig, SchedulerConfig>? Override = null);

    private static readonly Entry Ddpm = new(nameof(DDPMScheduler), c => new DDPMScheduler(c));
    private static readonly Entry Ddim = new(nameof(DDIMScheduler), c => new DDIMScheduler(c));
    private static readonly Entry Pndm = new(nameof(PNDMScheduler), c => new PNDMScheduler(c));
    private static readonly Entry Euler = new(nameof(EulerDiscreteScheduler), c => new EulerDiscreteScheduler(c));
    private static readonly Entry EulerA = new(nameof(EulerAncestralDiscreteScheduler), c => new EulerAncestralDiscreteScheduler(c));
    private static readonly Entry Dpm = new(nameof(DPMSolverMultistepScheduler), c => new DPMSolverMultistepScheduler(c));
    private static readonly Entry Lms = new(nameof(LMSDiscreteScheduler), c => new LMSDiscreteScheduler(c));

    // "DPM++ 2M" pins the algorithm and order even when the source config is some other DPM-Solver variant.
    // Overrides are explicit keys, like from_config's keyword arguments, even where the source had them defaulted.
    private static SchedulerConfig DpmPlusPlus2M(SchedulerConfig c) =>
        Explicit(c with { AlgorithmType = "dpmsolver++", SolverOrder = 2 }, "algorithm_type", "solver_order");

    private static SchedulerConfig DpmPlusPlus2MKarras(SchedulerConfig c) =>
        Explicit(DpmPlusPlus2M(c) with { UseKarrasSigmas = true }, "use_karras_sigmas");

    private static SchedulerConfig Explicit(SchedulerConfig c, params string[] keys) =>
        c with { DefaultedKeys = [.. c.DefaultedKeys.Except(keys)] };

    private static readonly Dictionary<string, Entry> Entries = new(StringComparer.OrdinalIgnoreCase)
    {
        [nameof(DDPMScheduler)] = Ddpm,
        ["ddpm"] = Ddpm,
        [nameof(DDIMScheduler)] = Ddim,
        ["ddim"] = Ddim,
        [nameof(PNDMScheduler)] = Pndm,
        ["pndm"] = Pndm,
        ["plms"] = Pndm,
        [nameof(EulerDiscreteScheduler)] = Euler,
        ["euler"] = Euler,
        [nameof(EulerAncestralDiscreteScheduler)] = EulerA,
        ["euler-a"] = EulerA,
        ["euler_a"] = EulerA,
        [nameof(DPMSolverMultistepScheduler)] = Dpm,
        ["dpm++2m"] = Dpm with { Override = DpmPlusPlus2M },
        ["dpmpp-2m"] = Dpm with { Override = DpmPlusPlus2M },
        ["dpm-solver++"] = Dpm with { Override = DpmPlusPlus2M },
        ["dpm++2m-karras"] = Dpm with { Override = DpmPlusPlus2MKarras },
        ["dpmpp-2m-karras"] = Dpm with { Override = DpmPlusPlus2MKarras },
        [nameof(LMSDiscreteScheduler)] = Lms,
        ["lms"] = Lms,
    };

    /// <summary>Every accepted name: class names first, then the aliases.</summary>
    public static IReadOnlyList<string> Names { get; } =
        [.. Entries.Keys.Where(k => k.EndsWith("Scheduler", StringComparison.Ordinal)), .. Entries.Keys.Where(k => !k.EndsWith("Scheduler", StringComparison.Ordinal))];

    /// <summary>The diffusers class a name or alias stands for.</summary>
    public static string ClassNameOf(string nameOrAlias) => Find(nameOrAlias).ClassName;

    /// <summary><c>Cls.from_config(sourceConfig)</c> for the class named by <paramref name="nameOrAlias"/>.</summary>
    public static IScheduler Create(string nameOrAlias, SchedulerConfig sourceConfig)
    {
        var entry = Find(nameOrAlias);
        return entry.Create(entry.Override is null ? sourceConfig : entry.Override(sourceConfig));
    }

    /// <summary>The scheduler a config describes (its <c>_class_name</c>), as diffusers' <c>from_pretrained</c>.</summary>
    public static IScheduler FromConfig(SchedulerConfig config) =>
        config.ClassName is { } name
            ? Create(name, config)
            : throw new DreamBoothException($"The scheduler config has no _class_name; known schedulers: {string.Join(", ", Names)}.");

    private static Entry Find(string nameOrAlias) =>
        Entries.TryGetValue(nameOrAlias.Trim(), out var entry)
            ? entry
            : throw new DreamBoothException($"Unknown scheduler '{nameOrAlias}'; valid names: {string.Join(", ", Names)}.");
}
