namespace DreamBooth.ToyWorld;

using System.Diagnostics;
using DreamBooth.Training;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

/// <summary>
/// The step loop every toy model trains with (autoencoder, text-to-image, CLIP): one dispose scope per step, the
/// loss checked finite, gradients clipped to norm 1, the learning rate of the schedule, a jsonl log line and a progress
/// report per step. The caller supplies only the loss of a step and what to do after it.
/// </summary>
internal static class ToyTrainingLoop
{
    /// <summary>Runs <paramref name="steps"/> steps; returns the mean loss of the last 50.</summary>
    /// <param name="loss">The loss of the step (0-based), computed inside the step's dispose scope.</param>
    /// <param name="afterStep">Called with the finished step's number (1-based) after the update, outside the scope.</param>
    public static double Run(string phase, int steps, IReadOnlyList<Parameter> parameters, AdamW optimizer, LrSchedule schedule,
                             Func<int, Tensor> loss, TrainingLog log, IProgress<ToyPretrainProgress>? progress, CancellationToken cancel,
                             Action<int>? afterStep = null)
    {
        var recent = new Queue<double>();
        var clock = Stopwatch.StartNew();
        for (int step = 0; step < steps; step++)
        {
            cancel.ThrowIfCancellationRequested();
            double value, gradNorm;
            using (NewDisposeScope())
            {
                var total = loss(step);
                total.backward();
                value = total.item<float>();
                if (!double.IsFinite(value)) throw new DreamBoothException($"The {phase} loss became {value} at step {step + 1}; lower the learning rate.");
                gradNorm = GradClip.ClipGradNorm(parameters, 1.0);
            }
            optimizer.LearningRate = schedule.LearningRateAt(step);
            optimizer.Step();
            optimizer.ZeroGrad();
            recent.Enqueue(value);
            if (recent.Count > 50) recent.Dequeue();
            log.Write(step + 1, value, value, null, optimizer.LearningRate, gradNorm, 0, clock.Elapsed.TotalSeconds);
            progress?.Report(new ToyPretrainProgress(phase, step + 1, steps, value, (step + 1) / Math.Max(1e-9, clock.Elapsed.TotalSeconds)));
            afterStep?.Invoke(step + 1);
        }
        return recent.Average();
    }
}
