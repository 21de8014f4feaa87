namespace DreamBooth.ToyWorld;

/// <summary>The toy metrics of one model (<see cref="ToyMetrics"/> says what each measures).</summary>
public sealed record ToyRunMetrics(string Name, double SubjectFidelity, double PromptFidelity, double ClassSubjectLeak, double UnrelatedSubjectLeak,
                                   double ClassPriorDrift, double Diversity)
{
    /// <summary>The values in the order of <see cref="ToyDemo.MetricMeanings"/>.</summary>
    public IReadOnlyList<double> Values => [SubjectFidelity, PromptFidelity, ClassSubjectLeak, UnrelatedSubjectLeak, ClassPriorDrift, Diversity];
}
