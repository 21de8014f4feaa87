namespace DreamBooth.ToyWorld;

/// <summary>The five toy metrics of one model (<see cref="ToyMetrics"/> says what each measures).</summary>
public sealed record ToyRunMetrics(string Name, double SubjectFidelity, double PromptFidelity, double ClassSubjectLeak, double ClassPriorDrift,
                                   double Diversity);
