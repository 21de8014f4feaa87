// Mirrors transformers src/transformers/models/clip/modeling_clip.py::CLIPTextTransformer
namespace DreamBooth.Models.Clip;

using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

/// <summary>Embeddings → causal transformer encoder → final LayerNorm → pooling at the end-of-text token.</summary>
public sealed class CLIPTextTransformer : Module<Tensor, CLIPTextOutput>
{
    private readonly CLIPTextEmbeddings embeddings;
    private readonly CLIPEncoder encoder;
    private readonly Modules.LayerNorm final_layer_norm;
    private readonly int eosTokenId;

    public CLIPTextTransformer(CLIPTextConfig config, Device device, ScalarType dtype) : base(nameof(CLIPTextTransformer))
    {
        embeddings = new CLIPTextEmbeddings(config, device, dtype);
        encoder = new CLIPEncoder(config, device, dtype);
        final_layer_norm = UninitializedLayers.LayerNorm(config.HiddenSize, config.LayerNormEps, device, dtype);
        eosTokenId = config.EosTokenId;
        RegisterComponents();
    }

    /// <summary>
    /// Checkpoint keys that have no parameter but are harmless: transformers before 4.31 saved the
    /// <c>position_ids</c> buffer (plain arange) as <c>text_model.embeddings.position_ids</c>.
    /// </summary>
    public static bool IsIgnoredCheckpointKey(string key) =>
        key == "text_model.embeddings.position_ids";

    /// <summary>Applies <c>final_layer_norm</c> to a hidden state, as diffusers does for clip_skip.</summary>
    public Tensor FinalLayerNorm(Tensor hiddenStates) => final_layer_norm.call(hiddenStates);

    /// <param name="inputIds">[B, T] token ids (any integer dtype; moved to the model's device).</param>
    public override CLIPTextOutput forward(Tensor inputIds)
    {
        using var scope = NewDisposeScope();
        if (inputIds.dim() != 2) throw new DreamBoothException($"input_ids must be [batch, tokens], got [{string.Join(", ", inputIds.shape)}].");
        var device = final_layer_norm.weight.device;
        var ids = inputIds.to(ScalarType.Int64, device);                          // [B, T]
        long batch = ids.shape[0], seqLength = ids.shape[1];

        // 1. embeddings
        var hidden = embeddings.call(ids);                                        // [B, T, C]

        // 2. causal mask: position i attends to j ≤ i. Additive finfo.min (not -inf) as transformers'
        //    _create_4d_causal_attention_mask, so rows stay finite in every dtype.
        var causalMask = Ops.Full([seqLength, seqLength], finfo(hidden.dtype).min, hidden.dtype, device)
            .triu(1)                                                              // [T, T], 0 on and below the diagonal
            .view(1, 1, seqLength, seqLength);                                    // [1, 1, T, T] broadcast over B, heads

        // 3. encoder; hidden_states keeps the embeddings and every layer's output, before the final norm
        var states = encoder.call(hidden, causalMask);
        var lastHiddenState = final_layer_norm.call(states[^1]);                  // [B, T, C]

        // 4. pooled output at the end-of-text token of each row
        var rows = Ops.Arange(0, batch, ScalarType.Int64, device);                      // [B]
        var eosIndex = EndOfTextIndex(ids);                                       // [B]
        var pooled = lastHiddenState.index(TensorIndex.Tensor(rows), TensorIndex.Tensor(eosIndex));   // [B, C]

        return new CLIPTextOutput(lastHiddenState, pooled, states).MoveToOuterDisposeScope();
    }

    // With the legacy eos_token_id == 2 (all released SD configs) transformers pools at argmax(input_ids): the
    // first occurrence of the largest id, which is the first <|endoftext|> (49407, the last id of CLIP's vocabulary).
    // Otherwise at the first position holding eos_token_id. argmax returns the first maximal index.
    private Tensor EndOfTextIndex(Tensor ids)
    {
        if (eosTokenId == 2) return ids.to(ScalarType.Int32).argmax(-1);
        using var eos = eosTokenId.ToScalar();
        return ids.eq(eos).to(ScalarType.Int32).argmax(-1);
    }
}
