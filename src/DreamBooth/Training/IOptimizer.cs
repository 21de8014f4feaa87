namespace DreamBooth.Training;

using TorchSharp.Modules;

/// <summary>What the training loop needs from an optimizer: one step per call, a learning rate the LR schedule sets
/// before each step, and a state file for exact resume.</summary>
public interface IOptimizer : IDisposable
{
    /// <summary>The optimized parameters with the names their state is saved under.</summary>
    IReadOnlyList<(string Name, Parameter Parameter)> Parameters { get; }

    /// <summary>Learning rate of the next <see cref="Step"/> (the schedule sets base LR × factor before each step).</summary>
    double LearningRate { get; set; }

    /// <summary>Updates every parameter that has a gradient; parameters without one are left alone (no state, no step).</summary>
    void Step();

    /// <summary>Clears gradients: sets them to null (<paramref name="setToNone"/>) or zeroes them in place.</summary>
    void ZeroGrad(bool setToNone = true);

    /// <summary>Bytes held by the optimizer state (moments, quantization scales).</summary>
    long StateBytes { get; }

    /// <summary>Writes the full state (per-parameter step counts, moments, hyper-parameters) as one .safetensors file.</summary>
    void Save(string path);

    /// <summary>Restores a state written by <see cref="Save"/> for the same parameters (names and shapes are checked).</summary>
    void Load(string path);
}
