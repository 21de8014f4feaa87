namespace DreamBooth.Tests.Evaluation;

using DreamBooth.Evaluation;

/// <summary>The checkpoint-choice rule on synthetic per-step series (step 0 = the base model, the reference).</summary>
public sealed class CheckpointChoiceTests
{
    // DINO and CLIP-I both equal to s, so the subject fidelity S is s.
    private static List<CheckpointPoint> Run(double[] s, double[] clipT, bool[]? candidate = null) =>
        [.. s.Select((v, i) => new CheckpointPoint(i * 100, i == 0 ? "base" : $"checkpoint-{i * 100}", i == 0 ? null : $"ck{i}", v, v, clipT[i], 0.3, 0.2,
                                                   candidate?[i] ?? i > 0, null))];

    [Fact]
    public void SubjectFidelity_IsClipIAlone_WithoutDino()
    {
        Assert.Equal(0.5, new CheckpointPoint(100, "c", "c", 0.7, 0.3, 0.2, 0.3, null, true, null).SubjectFidelity, 12);
        Assert.Equal(0.3, new CheckpointPoint(100, "c", "c", null, 0.3, 0.2, 0.3, null, true, null).SubjectFidelity, 12);
    }

    [Fact]
    public void OverTrainedRun_SubjectPlateausWhilePromptFidelityFalls_RecommendsTheStartOfThePlateauNotTheLast()
    {
        //                 base  100   200   300    400    500    600
        double[] s =     [0.30, 0.50, 0.60, 0.625, 0.630, 0.632, 0.633];
        double[] clipT = [0.31, 0.30, 0.295, 0.28, 0.27, 0.26, 0.25];
        var r = CheckpointChoice.Recommend(Run(s, clipT));
        Assert.NotEqual(600, r.Recommended.Step);
        Assert.Equal(200, r.Recommended.Step);        // plateau: S ≥ 0.30 + 0.9 × 0.333 = 0.5997, from step 200
    }

    [Fact]
    public void OverTrainedRun_PlateauStartHasTheBestPromptFidelity_IsRecommended_AndTheFallIsMarked()
    {
        double[] s =     [0.30, 0.50, 0.62, 0.63, 0.64, 0.64];
        double[] clipT = [0.31, 0.30, 0.29, 0.28, 0.27, 0.26];
        var r = CheckpointChoice.Recommend(Run(s, clipT));
        Assert.Equal(200, r.PlateauStep);
        Assert.Equal(200, r.Recommended.Step);
        Assert.Equal(300, r.PromptFallStep);           // 0.28 < 0.29 − 0.005
        Assert.Contains("step 200", r.Reason);
    }

    [Fact]
    public void StillImprovingRun_RecommendsTheLastCheckpoint()
    {
        double[] s =     [0.30, 0.40, 0.50, 0.60, 0.70];
        double[] clipT = [0.31, 0.30, 0.30, 0.29, 0.29];
        var r = CheckpointChoice.Recommend(Run(s, clipT));
        Assert.Equal(400, r.Recommended.Step);
        Assert.Null(r.PromptFallStep);
    }

    [Fact]
    public void PlateauCheckpoints_ClipTWithinTheTolerance_TheEarliestWins_ClearlyBetterLaterOneWins()
    {
        double[] s = [0.30, 0.62, 0.63, 0.64];
        Assert.Equal(100, CheckpointChoice.Recommend(Run(s, [0.31, 0.290, 0.294, 0.280])).Recommended.Step);
        var later = CheckpointChoice.Recommend(Run(s, [0.31, 0.290, 0.300, 0.280]));
        Assert.Equal(200, later.Recommended.Step);
        Assert.Equal(100, later.PlateauStep);
        Assert.Equal(300, later.PromptFallStep);
    }

    [Fact]
    public void BaseAndDeletedCheckpoints_AreNeverRecommended()
    {
        double[] s = [0.90, 0.50, 0.62, 0.63];            // the base would win on every metric
        double[] clipT = [0.40, 0.30, 0.35, 0.28];
        var r = CheckpointChoice.Recommend(Run(s, clipT, [false, true, false, true]));
        Assert.Equal(300, r.Recommended.Step);            // 200 is best but deleted; only 100 and 300 remain
    }

    [Fact]
    public void WithoutTheBaseModel_TheLowestCheckpointIsTheReference()
    {
        var points = Run([0.30, 0.40, 0.70, 0.71], [0.31, 0.30, 0.30, 0.25]).Skip(1).ToList();
        var r = CheckpointChoice.Recommend(points);
        Assert.Equal(200, r.Recommended.Step);            // 0.40 + 0.9 × 0.31 = 0.679: 200 and 300 on the plateau
    }

    [Fact]
    public void NothingToChoose_Throws()
    {
        Assert.Throws<DreamBoothException>(() => CheckpointChoice.Recommend(Run([0.3], [0.3])));
    }

    [Fact]
    public void TheRule_IsStatedWithItsNumbers()
    {
        Assert.Contains("90%", CheckpointChoice.Rule);
        Assert.Contains("0.005", CheckpointChoice.Rule);
        Assert.Contains("mean(DINO, CLIP-I)", CheckpointChoice.Rule);
    }
}
