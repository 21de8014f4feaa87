// Mirrors transformers src/transformers/models/clip/modeling_clip.py::CLIPMLP
namespace DreamBooth.Models.Clip;

using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>fc1 → activation → fc2.</summary>
public sealed class CLIPMLP : Module<Tensor, Tensor>
{
    // Linear layers, typed as modules so a LoRA wrapper can take their place.
    private readonly Module<Tensor, Tensor> fc1;   // [intermediate, hidden]
    private readonly Module<Tensor, Tensor> fc2;   // [hidden, intermediate]
    private readonly bool quickGelu;

    public CLIPMLP(CLIPTextConfig config, Device device, ScalarType dtype) : base(nameof(CLIPMLP))
    {
        fc1 = UninitializedLayers.Linear(config.HiddenSize, config.IntermediateSize, bias: true, device, dtype);
        fc2 = UninitializedLayers.Linear(config.IntermediateSize, config.HiddenSize, bias: true, device, dtype);
        quickGelu = config.HiddenAct == "quick_gelu";   // CLIPTextConfig.Validate admits only quick_gelu and gelu
        RegisterComponents();
    }

    public override Tensor forward(Tensor hiddenStates)
    {
        using var scope = NewDisposeScope();
        var h = fc1.call(hiddenStates);                                          // [B, T, intermediate]
        h = quickGelu ? QuickGelu(h) : functional.gelu(h);                       // gelu = exact erf form
        return fc2.call(h).MoveToOuterDisposeScope();                            // [B, T, hidden]
    }

    /// <summary>OpenAI CLIP's sigmoid approximation of GELU: x·σ(1.702·x) (transformers QuickGELUActivation).</summary>
    internal static Tensor QuickGelu(Tensor x) => x * functional.sigmoid(x * 1.702);
}
