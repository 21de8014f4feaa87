// Mirrors transformers src/transformers/models/clip/modeling_clip.py::CLIPEncoder
namespace DreamBooth.Models.Clip;

using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>The stack of <see cref="CLIPEncoderLayer"/>s; keeps every intermediate state (SDXL and clip_skip use them).</summary>
public sealed class CLIPEncoder : Module<Tensor, Tensor, IReadOnlyList<Tensor>>, ICheckpointable
{
    private readonly Modules.ModuleList<CLIPEncoderLayer> layers;   // keys layers.0.*, layers.1.*, …

    public CLIPEncoder(CLIPTextConfig config, Device device, ScalarType dtype) : base(nameof(CLIPEncoder))
    {
        layers = new Modules.ModuleList<CLIPEncoderLayer>(
            Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new CLIPEncoderLayer(config, device, dtype)).ToArray());
        RegisterComponents();
    }

    /// <summary>transformers' <c>gradient_checkpointing</c>: recompute each layer in backward (training mode with grad only).</summary>
    public bool GradientCheckpointing { get; set; }

    /// <param name="inputsEmbeds">[B, T, C]: the embeddings output.</param>
    /// <param name="attentionMask">Additive mask, broadcastable to [B, heads, T, T].</param>
    /// <returns>num_hidden_layers + 1 tensors [B, T, C]: the input, then each layer's output (in the caller's scope).</returns>
    public override IReadOnlyList<Tensor> forward(Tensor inputsEmbeds, Tensor attentionMask)
    {
        var states = new List<Tensor>(layers.Count + 1) { inputsEmbeds };
        var h = inputsEmbeds;
        bool checkpoint = BlockCheckpointing.Active(this, GradientCheckpointing);
        foreach (var layer in layers)
        {
            h = BlockCheckpointing.Call(layer, h, attentionMask, checkpoint);
            states.Add(h);
        }
        return states;
    }
}
