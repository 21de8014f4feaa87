// Mirrors torch.cuda.amp.GradScaler (torch 1.13)
namespace DreamBooth.Training;

using DreamBooth.Torch;
using System.Runtime.CompilerServices;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>The resumable part of a <see cref="GradScaler"/> (torch's GradScaler.state_dict()).</summary>
public sealed record GradScalerState(
    float Scale, double GrowthFactor, double BackoffFactor, int GrowthInterval, int GrowthTracker);

/// <summary>Dynamic loss scaling for fp16 training: the loss is multiplied by <see cref="Scale"/> before backward,
/// gradients are divided by it before the step, a step whose gradients hold an inf/NaN is skipped, and the scale
/// halves after such a step and doubles after <c>growthInterval</c> clean steps in a row.
/// Usage per iteration: ScaleLoss(loss).backward(); [Unscale(opt); clip]; Step(opt); Update().</summary>
public sealed class GradScaler
{
    private enum Stage { Ready, Unscaled, Stepped }

    private readonly ConditionalWeakTable<IOptimizer, StageBox> stages = new();
    private readonly List<StageBox> touched = [];
    private float scale;
    private int growthTracker;

    public GradScaler(double initScale = 65536.0, double growthFactor = 2.0, double backoffFactor = 0.5,
        int growthInterval = 2000, bool enabled = true)
    {
        if (!(growthFactor > 1.0)) throw new DreamBoothException($"The grad scaler's growth factor must be above 1, not {growthFactor}.");
        if (!(backoffFactor < 1.0 && backoffFactor > 0)) throw new DreamBoothException($"The grad scaler's backoff factor must be in (0, 1), not {backoffFactor}.");
        if (growthInterval <= 0) throw new DreamBoothException($"The grad scaler's growth interval must be positive, not {growthInterval}.");
        if (!(initScale > 0) || !float.IsFinite((float)initScale)) throw new DreamBoothException($"The grad scaler's initial scale must be a positive float32, not {initScale}.");
        scale = (float)initScale;
        GrowthFactor = growthFactor;
        BackoffFactor = backoffFactor;
        GrowthInterval = growthInterval;
        Enabled = enabled;
    }

    /// <summary>When false every method is a pass-through (ScaleLoss returns the loss, Step just steps).</summary>
    public bool Enabled { get; }

    /// <summary>The current loss scale (float32, like torch's scale tensor); 1 when disabled.</summary>
    public float Scale => Enabled ? scale : 1f;

    public double GrowthFactor { get; private set; }

    public double BackoffFactor { get; private set; }

    public int GrowthInterval { get; private set; }

    /// <summary>Clean steps since the last growth or backoff.</summary>
    public int GrowthTracker => growthTracker;

    /// <summary>loss × scale (a new tensor), to call backward on.</summary>
    public Tensor ScaleLoss(Tensor loss) => Enabled ? Ops.Mul(loss, scale) : loss.alias();

    /// <summary>Divides the gradients of <paramref name="optimizer"/>'s parameters by the scale in place, once per
    /// iteration (call it before clipping). Returns whether any gradient held an inf or NaN.</summary>
    public bool Unscale(IOptimizer optimizer)
    {
        if (!Enabled) return false;
        var box = BoxOf(optimizer);
        if (box.Stage == Stage.Unscaled) throw new InvalidOperationException("Unscale() has already been called on this optimizer since the last Update().");
        if (box.Stage == Stage.Stepped) throw new InvalidOperationException("Unscale() is being called after Step().");
        // torch: inv_scale = scale.double().reciprocal().float()
        float invScale = (float)(1.0 / scale);
        bool foundInf = false;
        using (no_grad())
        {
            foreach (var (name, p) in optimizer.Parameters)
            {
                using var grad = p.grad;
                if (grad is null) continue;
                if (grad.dtype == ScalarType.Float16)
                    throw new DreamBoothException($"Cannot unscale fp16 gradients ('{name}'): keep the trained parameters in float32.");
                // Checked before the multiply, as torch's kernel does.
                using (var finite = isfinite(grad).all())
                    if (!finite.item<bool>()) foundInf = true;
                if (invScale != 1f) Ops.MulInPlace(grad, invScale);
            }
        }
        box.FoundInf = foundInf;
        box.Stage = Stage.Unscaled;
        return foundInf;
    }

    /// <summary>Unscales if not done yet, then steps the optimizer unless a gradient was inf/NaN.
    /// Returns whether the optimizer stepped.</summary>
    public bool Step(IOptimizer optimizer)
    {
        if (!Enabled)
        {
            optimizer.Step();
            return true;
        }
        var box = BoxOf(optimizer);
        if (box.Stage == Stage.Stepped) throw new InvalidOperationException("Step() has already been called since the last Update().");
        if (box.Stage == Stage.Ready) Unscale(optimizer);
        box.Stage = Stage.Stepped;
        if (box.FoundInf) return false;
        optimizer.Step();
        return true;
    }

    /// <summary>Adjusts the scale after this iteration's steps: × backoff if any optimizer saw inf/NaN,
    /// × growth after <see cref="GrowthInterval"/> clean iterations (kept only if finite).</summary>
    public void Update()
    {
        if (!Enabled) return;
        if (touched.Count == 0) throw new InvalidOperationException("No inf checks were recorded prior to Update(): call Step() or Unscale() first.");
        bool foundInf = touched.Any(b => b.FoundInf);
        if (foundInf)
        {
            scale = (float)(scale * BackoffFactor);
            growthTracker = 0;
        }
        else if (growthTracker + 1 == GrowthInterval)
        {
            float grown = (float)(scale * GrowthFactor);
            if (float.IsFinite(grown)) scale = grown;
            growthTracker = 0;
        }
        else
            growthTracker++;
        foreach (var b in touched) b.Reset();
        touched.Clear();
    }

    public GradScalerState State => new(scale, GrowthFactor, BackoffFactor, GrowthInterval, growthTracker);

    /// <summary>Restores a state from <see cref="State"/> (as torch's load_state_dict, it also sets the factors and interval).</summary>
    public void Load(GradScalerState state)
    {
        if (!(state.Scale > 0) || !float.IsFinite(state.Scale)) throw new DreamBoothException($"Invalid saved loss scale {state.Scale}.");
        if (state.GrowthInterval <= 0 || state.GrowthTracker < 0 || state.GrowthTracker >= state.GrowthInterval)
            throw new DreamBoothException($"Invalid saved grad scaler growth tracker {state.GrowthTracker} / interval {state.GrowthInterval}.");
        scale = state.Scale;
        GrowthFactor = state.GrowthFactor;
        BackoffFactor = state.BackoffFactor;
        GrowthInterval = state.GrowthInterval;
        growthTracker = state.GrowthTracker;
    }

    private StageBox BoxOf(IOptimizer optimizer)
    {
        var box = stages.GetValue(optimizer, _ => new StageBox());
        if (box.Stage == Stage.Ready && !touched.Contains(box)) touched.Add(box);
        return box;
    }

    private sealed class StageBox
    {
        public Stage Stage = Stage.Ready;
        public bool FoundInf;

        public void Reset()
        {
            Stage = Stage.Ready;
            FoundInf = false;
        }
    }
}
