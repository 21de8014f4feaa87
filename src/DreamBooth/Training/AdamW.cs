// Mirrors torch.optim.AdamW (torch 1.13 `_single_tensor_adamw`, foreach=False; torch 2.x computes the same update)
namespace DreamBooth.Training;

using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

/// <summary>AdamW with fp32 (parameter-dtype) moments, step for step the op sequence of torch's single-tensor
/// AdamW, so results are bit-identical to torch on the same device and thread count.</summary>
public sealed class AdamW : OptimizerBase
{
    private readonly Tensor?[] expAvg;
    private readonly Tensor?[] expAvgSq;

    public AdamW(IEnumerable<(string Name, Parameter Parameter)> parameters, AdamWOptions? options = null)
        : base(parameters, options)
    {
        expAvg = new Tensor?[Parameters.Count];
        expAvgSq = new Tensor?[Parameters.Count];
    }

    /// <summary>Parameters named by position ("0", "1", ...); prefer the named overload for resumable state.</summary>
    public AdamW(IEnumerable<Parameter> parameters, AdamWOptions? options = null) : this(ByIndex(parameters), options) { }

    public override string Kind => "AdamW";

    protected override void EnsureState(int index)
    {
        if (expAvg[index] is not null) return;
        var p = Parameters[index].Parameter;
        expAvg[index] = zeros_like(p).DetachFromDisposeScope();
        expAvgSq[index] = zeros_like(p).DetachFromDisposeScope();
    }

    protected override void ClearState(int index)
    {
        expAvg[index]?.Dispose();
        expAvgSq[index]?.Dispose();
        expAvg[index] = expAvgSq[index] = null;
    }

    protected override IReadOnlyList<(string Slot, Tensor Tensor)> StateTensors(int index) =>
        expAvg[index] is { } m ? [("exp_avg", m), ("exp_avg_sq", expAvgSq[index]!)] : [];

    protected override void Update(int index, Parameter p, Tensor grad, long step) =>
        Apply(p, grad, expAvg[index]!, expAvgSq[index]!, step, LearningRate, Options);

    /// <summary>One AdamW update in place (call under no_grad):
    /// p *= 1 - lr·wd; m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²;
    /// p -= lr/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + eps).</summary>
    internal static void Apply(Tensor p, Tensor grad, Tensor expAvg, Tensor expAvgSq, long step, double lr, AdamWOptions o)
    {
        double biasCorrection1 = 1 - Math.Pow(o.Beta1, step);
        double biasCorrection2 = 1 - Math.Pow(o.Beta2, step);
        double stepSize = lr / biasCorrection1;
        using var decay = (1 - lr * o.WeightDecay).ToScalar();
        using var beta1 = o.Beta1.ToScalar();
        using var oneMinusBeta1 = (1 - o.Beta1).ToScalar();
        using var beta2 = o.Beta2.ToScalar();
        using var oneMinusBeta2 = (1 - o.Beta2).ToScalar();
        using var sqrtBc2 = Math.Sqrt(biasCorrection2).ToScalar();
        using var eps = o.Epsilon.ToScalar();
        using var negStep = (-stepSize).ToScalar();
        using var one = 1.ToScalar();                   // add_(Scalar) would pass a temporary alpha of 1 (see Ops)

        p.mul_(decay);
        expAvg.mul_(beta1).add_(grad, oneMinusBeta1);
        expAvgSq.mul_(beta2).addcmul_(grad, grad, oneMinusBeta2);
        using var denom = expAvgSq.sqrt();
        denom.div_(sqrtBc2).add_(eps, one);
        p.addcdiv_(expAvg, denom, negStep);
    }
}
