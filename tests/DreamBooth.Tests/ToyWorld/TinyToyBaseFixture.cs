namespace DreamBooth.Tests.ToyWorld;

using DreamBooth.ToyWorld;

/// <summary>A toy base model pretrained for a few tiny steps in a temp folder (never the repository's models/toyworld-base).</summary>
public sealed class TinyToyBaseFixture : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("toy-tiny-base").FullName;

    public TinyToyBaseFixture()
    {
        Path = System.IO.Path.Combine(root, "base");
        new ToyPretrainer(new ToyPretrainOptions
        {
            OutputDir = Path, Steps = 3, VaeSteps = 3, BatchSize = 4, WarmupSteps = 1, Seed = 2, Model = ToyModelConfig.Tiny,
        }).Run();
    }

    /// <summary>The diffusers folder.</summary>
    public string Path { get; }

    public void Dispose() => Directory.Delete(root, true);
}
