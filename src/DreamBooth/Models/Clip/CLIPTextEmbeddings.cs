// Mirrors transformers src/transformers/models/clip/modeling_clip.py::CLIPTextEmbeddings
namespace DreamBooth.Models.Clip;

using DreamBooth.Torch;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

/// <summary>Token embedding + learned absolute position embedding.</summary>
public sealed class CLIPTextEmbeddings : Module<Tensor, Tensor>
{
    // Field names are state_dict keys. transformers also keeps a non-persistent `position_ids` buffer
    // (arange(max_position_embeddings)); it is computed in forward here, so it is no key. Older checkpoints
    // that saved it are accepted by the loaders (see CLIPTextTransformer.IsIgnoredCheckpointKey).
    private readonly Embedding token_embedding;      // [vocab_size, hidden]
    private readonly Embedding position_embedding;   // [max_position_embeddings, hidden]
    private readonly int maxPositions;

    public CLIPTextEmbeddings(CLIPTextConfig config, Device device, ScalarType dtype) : base(nameof(CLIPTextEmbeddings))
    {
        token_embedding = UninitializedLayers.Embedding(config.VocabSize, config.HiddenSize, device, dtype);
        position_embedding = UninitializedLayers.Embedding(config.MaxPositionEmbeddings, config.HiddenSize, device, dtype);
        maxPositions = config.MaxPositionEmbeddings;
        RegisterComponents();
    }

    /// <param name="inputIds">[B, T] token ids (int64), T ≤ max_position_embeddings.</param>
    /// <returns>[B, T, hidden]</returns>
    public override Tensor forward(Tensor inputIds)
    {
        long seqLength = inputIds.shape[^1];
        if (seqLength > maxPositions)
            throw new DreamBoothException(
                $"The text encoder takes at most {maxPositions} tokens per sequence, got {seqLength} (truncate the tokenized prompt).");
        using var scope = NewDisposeScope();
        var positionIds = Ops.Arange(0, seqLength, ScalarType.Int64, inputIds.device).unsqueeze(0);   // [1, T]
        var embeddings = Ops.Add(token_embedding.call(inputIds), position_embedding.call(positionIds));  // [B, T, hidden]
        return embeddings.MoveToOuterDisposeScope();
    }
}
