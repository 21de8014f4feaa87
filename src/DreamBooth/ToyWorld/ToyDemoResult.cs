namespace DreamBooth.ToyWorld;

/// <summary>What the demo wrote and measured: metrics of base, lora and lora-prior, and the classifier's held-out accuracy.</summary>
public sealed record ToyDemoResult(string OutputDir, string MetricsPath, string ReportPath, IReadOnlyList<ToyRunMetrics> Runs, double ClassifierAccuracy);
