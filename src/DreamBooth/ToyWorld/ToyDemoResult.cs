namespace DreamBooth.ToyWorld;

/// <summary>What the demo wrote and measured: metrics of base, lora, lora-prior, full and full-prior, and the classifier's held-out accuracy.</summary>
public sealed record ToyDemoResult(string OutputDir, string MetricsPath, string ReportPath, IReadOnlyList<ToyRunMetrics> Runs, double ClassifierAccuracy);
