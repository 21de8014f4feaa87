// Mirrors peft src/peft/tuners/lora/layer.py::Linear (peft 0.10, fan_in_fan_out=False, no bias on the adapters).
namespace DreamBooth.Lora;

using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>
/// A Linear with LoRA adapters: <c>y = base(x) + Σ scaling · B(A(dropout(x)))</c>, A [r, in] and B [out, r] bias-free
/// Linear layers, <c>scaling = alpha / r × weight</c>. Replaces the Linear in its parent (see <see cref="LoraInjector"/>).
/// </summary>
public sealed class LoraLinear : LoraLayer
{
    // The same module as base_layer, kept typed. Not a second registration: the base constructor registered the
    // fields before this one was set.
    private readonly Modules.Linear linear;

    public LoraLinear(Modules.Linear baseLayer) : base(nameof(LoraLinear), baseLayer)
    {
        linear = baseLayer;
    }

    public override Modules.Parameter BaseWeight => linear.weight;

    public long InFeatures => linear.weight.shape[1];

    public long OutFeatures => linear.weight.shape[0];

    public override long[] AShape(long rank) => [rank, InFeatures];

    public override long[] BShape(long rank) => [OutFeatures, rank];

    public override string Describe() => $"Linear [{InFeatures} → {OutFeatures}]";

    protected override (Module<Tensor, Tensor> Down, Module<Tensor, Tensor> Up) CreatePair(int rank, Device device, ScalarType dtype) =>
        (Linear(InFeatures, rank, hasBias: false, device: device, dtype: dtype),
         Linear(rank, OutFeatures, hasBias: false, device: device, dtype: dtype));

    protected override Tensor Apply(Tensor x, Tensor weight) => functional.linear(x, weight);

    protected override Tensor Product(Tensor a, Tensor b) => b.matmul(a);   // [out, r] @ [r, in] = [out, in]
}
