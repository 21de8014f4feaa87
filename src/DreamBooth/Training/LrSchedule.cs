// Mirrors diffusers src/diffusers/optimization.py::get_scheduler (v0.27.2) — the LambdaLR multipliers
namespace DreamBooth.Training;

using System.Globalization;

/// <summary>diffusers' learning-rate schedules as a pure function: <see cref="Factor"/>(k) is the LambdaLR multiplier
/// in force for the optimizer step that follows k completed steps (train_dreambooth.py calls
/// <c>optimizer.step(); lr_scheduler.step()</c>, so step k uses base_lr × Factor(k); Factor(0) is the first step).
/// diffusers' scripts pass warm-up and training steps multiplied by the number of processes; with one process these
/// are the plain numbers.</summary>
public sealed class LrSchedule
{
    /// <summary>The names diffusers' <c>get_scheduler</c> accepts (SchedulerType values).</summary>
    public static readonly IReadOnlyList<string> Names =
        ["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "piecewise_constant"];

    private readonly SortedDictionary<int, double> rules = [];
    private readonly double lastRuleMultiple = 1;

    /// <param name="name">One of <see cref="Names"/> (case-insensitive, '-' accepted for '_').</param>
    /// <param name="warmupSteps">Linear warm-up from 0 (ignored by constant and piecewise_constant).</param>
    /// <param name="trainingSteps">Total optimizer steps (used by linear, cosine, cosine_with_restarts, polynomial).</param>
    /// <param name="numCycles">Hard restarts of cosine_with_restarts (get_scheduler's num_cycles; plain cosine always uses 0.5).</param>
    /// <param name="power">Exponent of polynomial.</param>
    /// <param name="learningRate">Base LR: polynomial decays from it to <paramref name="lrEnd"/>, so its factor depends on it.</param>
    /// <param name="lrEnd">Final LR of polynomial (diffusers' default 1e-7; get_scheduler does not pass it).</param>
    /// <param name="stepRules">piecewise_constant rules, e.g. "1:10,0.1:20,0.01" (multiple 1 before step 10, 0.1 before 20, then 0.01).</param>
    public LrSchedule(string name, int warmupSteps = 0, int trainingSteps = 0, int numCycles = 1, double power = 1.0,
        double learningRate = 5e-6, double lrEnd = 1e-7, string? stepRules = null)
    {
        Name = Parse(name);
        if (warmupSteps < 0) throw new DreamBoothException($"LR warm-up steps must be 0 or more, not {warmupSteps}.");
        if (trainingSteps < 0) throw new DreamBoothException($"Training steps must be 0 or more, not {trainingSteps}.");
        WarmupSteps = warmupSteps;
        TrainingSteps = trainingSteps;
        NumCycles = numCycles;
        Power = power;
        LearningRate = learningRate;
        LrEnd = lrEnd;
        if (Name == "polynomial")
        {
            if (!(learningRate > lrEnd))
                throw new DreamBoothException($"The polynomial LR schedule ends at {lrEnd}, which must be smaller than the learning rate ({learningRate}).");
            // diffusers would divide by zero at step == warm-up == training steps.
            if (trainingSteps == warmupSteps)
                throw new DreamBoothException($"The polynomial LR schedule needs more training steps ({trainingSteps}) than warm-up steps ({warmupSteps}).");
        }
        if (Name == "piecewise_constant") (rules, lastRuleMultiple) = ParseRules(stepRules);
    }

    /// <summary>The canonical schedule name.</summary>
    public string Name { get; }

    public int WarmupSteps { get; }

    public int TrainingSteps { get; }

    public int NumCycles { get; }

    public double Power { get; }

    public double LearningRate { get; }

    public double LrEnd { get; }

    /// <summary>Canonical name for <paramref name="name"/>, or a <see cref="DreamBoothException"/> listing the valid ones.</summary>
    public static string Parse(string? name)
    {
        var key = (name ?? "").Trim().ToLowerInvariant().Replace('-', '_');
        if (Names.Contains(key)) return key;
        throw new DreamBoothException($"Unknown learning-rate scheduler '{name}'. Valid names: {string.Join(", ", Names)}.");
    }

    /// <summary>The learning rate for the step after <paramref name="step"/> completed steps: base LR × factor.</summary>
    public double LearningRateAt(int step) => LearningRate * Factor(step);

    /// <summary>The LambdaLR multiplier after <paramref name="step"/> completed optimizer steps.</summary>
    public double Factor(int step)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "step must be 0 or more");
        switch (Name)
        {
            case "constant":
                return 1.0;
            case "piecewise_constant":
                foreach (var (until, multiple) in rules)
                    if (step < until) return multiple;
                return lastRuleMultiple;
        }
        if (step < WarmupSteps)
            return (double)step / Math.Max(1, WarmupSteps);
        switch (Name)
        {
            case "constant_with_warmup":
                return 1.0;
            case "linear":
                return Math.Max(0.0, (double)(TrainingSteps - step) / Math.Max(1, TrainingSteps - WarmupSteps));
            case "cosine":
            {
                const double cycles = 0.5; // get_scheduler never passes num_cycles to the plain cosine schedule
                double progress = (double)(step - WarmupSteps) / Math.Max(1, TrainingSteps - WarmupSteps);
                return Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * cycles * 2.0 * progress)));
            }
            case "cosine_with_restarts":
            {
                double progress = (double)(step - WarmupSteps) / Math.Max(1, TrainingSteps - WarmupSteps);
                if (progress >= 1.0) return 0.0;
                return Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * ((double)NumCycles * progress % 1.0))));
            }
            case "polynomial":
            {
                if (step > TrainingSteps) return LrEnd / LearningRate;
                double range = LearningRate - LrEnd;
                int decaySteps = TrainingSteps - WarmupSteps;
                double remaining = 1 - (double)(step - WarmupSteps) / decaySteps;
                double decay = range * Math.Pow(remaining, Power) + LrEnd;
                return decay / LearningRate;
            }
            default:
                throw new InvalidOperationException($"unhandled schedule {Name}");
        }
    }

    private static (SortedDictionary<int, double>, double) ParseRules(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new DreamBoothException("The piecewise_constant LR schedule needs step rules, e.g. \"1:10,0.1:20,0.01\".");
        var parts = text.Split(',');
        var rules = new SortedDictionary<int, double>();
        foreach (var rule in parts[..^1])
        {
            var pair = rule.Split(':');
            if (pair.Length != 2
                || !double.TryParse(pair[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var multiple)
                || !int.TryParse(pair[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var until))
                throw new DreamBoothException($"Invalid LR step rule '{rule}' in \"{text}\": expected multiple:step, e.g. 0.1:20.");
            rules[until] = multiple;
        }
        if (!double.TryParse(parts[^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var last))
            throw new DreamBoothException($"Invalid final LR multiple '{parts[^1]}' in \"{text}\".");
        return (rules, last);
    }
}
