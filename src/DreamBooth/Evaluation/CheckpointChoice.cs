// Which checkpoint of a DreamBooth run to keep: the point where subject fidelity has stopped rising, before prompt
// fidelity falls (over-fitting shows first as prompts being ignored: the subject in its training pose and background).
namespace DreamBooth.Evaluation;

using System.Globalization;

/// <summary>
/// One evaluated state of a training run: step 0 is the base model (the reference, never recommended), later steps
/// checkpoints or the final weights. <paramref name="Use"/> is what to load to get it (a LoRA file or a folder);
/// <paramref name="Candidate"/> is false for the base model and for checkpoints deleted since (checkpoints_total_limit).
/// <paramref name="Report"/>: its evaluation report, relative to the checkpoint report's folder.
/// </summary>
public sealed record CheckpointPoint(int Step, string Name, string? Use, double? Dino, double ClipI, double ClipT, double Pres, double? Div,
                                     bool Candidate, string? Report)
{
    /// <summary>Subject fidelity: the mean of DINO and CLIP-I (CLIP-I alone when no DINO model was given).</summary>
    public double SubjectFidelity => Dino is double dino ? (dino + ClipI) / 2 : ClipI;
}

/// <summary>
/// The recommended point, the first step at which subject fidelity reached its plateau, the first step after the
/// recommendation at which prompt fidelity has clearly fallen (null: it did not), and why, in words.
/// </summary>
public sealed record CheckpointRecommendation(CheckpointPoint Recommended, int PlateauStep, int? PromptFallStep, string Reason);

/// <summary>The checkpoint-choice rule, a pure function of the per-step metrics (stated in <see cref="Rule"/>).</summary>
public static class CheckpointChoice
{
    /// <summary>A checkpoint is on the plateau once its subject fidelity has made this share of the run's best gain.</summary>
    public const double PlateauShare = 0.9;

    /// <summary>CLIP-T differences up to this (cosine) count as noise: the earlier checkpoint is preferred.</summary>
    public const double ClipTTolerance = 0.005;

    /// <summary>The rule as metrics.json, the reports and the README state it.</summary>
    public static readonly string Rule =
        "Subject fidelity S = mean(DINO, CLIP-I) (CLIP-I alone without a DINO model). A checkpoint is on the plateau when S has made at least " +
        $"{PlateauShare * 100:0}% of the run's best gain over the base model (step 0; without it, over the lowest S). " +
        "Among plateau checkpoints, the recommended one is the earliest whose CLIP-T is within " +
        $"{ClipTTolerance.ToString(CultureInfo.InvariantCulture)} of the plateau's best CLIP-T: more steps no longer add " +
        "subject fidelity there, and prompt fidelity is not yet lost. The prompt-fidelity fall is the first later checkpoint " +
        "whose CLIP-T is below the recommended one's by more than that margin.";

    public static CheckpointRecommendation Recommend(IReadOnlyList<CheckpointPoint> points)
    {
        var candidates = points.Where(p => p.Candidate).OrderBy(p => p.Step).ToList();
        if (candidates.Count == 0) throw new DreamBoothException("No checkpoint to choose from.");
        var reference = points.FirstOrDefault(p => p.Step == 0 && !p.Candidate)?.SubjectFidelity ?? candidates.Min(p => p.SubjectFidelity);
        var best = candidates.Max(p => p.SubjectFidelity);
        // A run that never beat its reference: then only its best checkpoints are on the plateau.
        var threshold = Math.Min(best, reference + PlateauShare * (best - reference));
        var plateau = candidates.Where(p => p.SubjectFidelity >= threshold).ToList();
        var bestClipT = plateau.Max(p => p.ClipT);
        var chosen = plateau.First(p => p.ClipT >= bestClipT - ClipTTolerance);
        var fall = candidates.FirstOrDefault(p => p.Step > chosen.Step && p.ClipT < chosen.ClipT - ClipTTolerance);
        var last = candidates[^1];

        static string F(double x) => x.ToString("0.0000", CultureInfo.InvariantCulture);
        var reason = $"Subject fidelity reaches its plateau (S ≥ {F(threshold)}) at step {plateau[0].Step}; " +
                     (chosen == plateau[0] ? "" : $"CLIP-T is clearly higher later, at step {chosen.Step}; ") +
                     $"{chosen.Name} has S {F(chosen.SubjectFidelity)} and CLIP-T {F(chosen.ClipT)}" +
                     (fall is null ? "" : $"; CLIP-T falls below {F(chosen.ClipT - ClipTTolerance)} from step {fall.Step}") +
                     (chosen == last ? "." : $" (the last checkpoint, step {last.Step}: S {F(last.SubjectFidelity)}, CLIP-T {F(last.ClipT)}).");
        return new CheckpointRecommendation(chosen, plateau[0].Step, fall?.Step, reason);
    }
}
