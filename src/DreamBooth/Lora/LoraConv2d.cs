// Mirrors peft src/peft/tuners/lora/layer.py::Conv2d (peft 0.10): A is a conv with the base layer's kernel, stride,
// padding and dilation; B is a 1×1 conv. Used by kohya files for SD 1.x's 1×1 proj_in/proj_out and by LoCon files.
namespace DreamBooth.Lora;

using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>A Conv2d with LoRA adapters: A [r, in, kh, kw] (same geometry as the base), B [out, r, 1, 1].</summary>
public sealed class LoraConv2d : LoraLayer
{
    private readonly Modules.Conv2d conv;   // = base_layer, typed (registered once, by the base constructor)

    public LoraConv2d(Modules.Conv2d baseLayer) : base(nameof(LoraConv2d), baseLayer)
    {
        if (baseLayer.groups != 1 || baseLayer.padding is null)
            throw new DreamBoothException("LoRA on a grouped convolution or one with 'same'/'valid' padding is not supported.");
        conv = baseLayer;
    }

    public override Modules.Parameter BaseWeight => conv.weight;

    private long[] W => conv.weight.shape;   // [out, in, kh, kw]

    public override long[] AShape(long rank) => [rank, W[1], W[2], W[3]];

    public override long[] BShape(long rank) => [W[0], rank, 1, 1];

    public override string Describe() => $"Conv2d [{W[1]} → {W[0]}, {W[2]}×{W[3]}]";

    protected override (Module<Tensor, Tensor> Down, Module<Tensor, Tensor> Up) CreatePair(int rank, Device device, ScalarType dtype)
    {
        var (s, p, d) = (conv.stride, conv.padding!, conv.dilation);
        var down = Conv2d(W[1], rank, (W[2], W[3]), stride: (s[0], s[1]), padding: (p[0], p[1]), dilation: (d[0], d[1]),
                          bias: false, device: device, dtype: dtype);
        var up = Conv2d(rank, W[0], (1, 1), bias: false, device: device, dtype: dtype);
        return (down, up);
    }

    protected override Tensor Apply(Tensor x, Tensor weight) =>
        functional.conv2d(x, weight, strides: conv.stride, padding: conv.padding!, dilation: conv.dilation);

    // out[o, i, h, w] = Σ_r B[o, r] · A[r, i, h, w]
    protected override Tensor Product(Tensor a, Tensor b) =>
        b.flatten(1).matmul(a.flatten(1)).view(W);   // [out, r] @ [r, in·kh·kw] -> [out, in, kh, kw]
}
