// Mirrors encode_prompt of diffusers StableDiffusionPipeline and StableDiffusionXLPipeline (0.27.2).
namespace DreamBooth.Pipelines;

using DreamBooth.Models.Clip;
using static TorchSharp.torch;

/// <summary>Prompt conditioning for one prompt (batch 1): embeddings, and for SDXL the pooled embeddings.</summary>
public sealed record PromptConditioning(Tensor PromptEmbeds, Tensor? NegativeEmbeds, Tensor? Pooled, Tensor? NegativePooled);

public static class PromptEncoding
{
    /// <param name="withNegative">Classifier-free guidance is on: also encode the negative prompt.</param>
    public static PromptConditioning Encode(StableDiffusionPipeline pipe, string prompt, string? negativePrompt, int? clipSkip,
                                            bool withNegative, bool forceZerosForEmptyPrompt)
    {
        if (!pipe.IsXL)
        {
            var positive = EncodeSd(pipe.Tokenizer, pipe.TextEncoder, prompt, clipSkip, pipe.Device);
            // diffusers encodes a missing negative prompt as "" and never applies clip_skip to it.
            var negative = withNegative ? EncodeSd(pipe.Tokenizer, pipe.TextEncoder, negativePrompt ?? "", null, pipe.Device) : null;
            return new PromptConditioning(positive, negative, null, null);
        }

        var (embeds, pooled) = EncodeXl(pipe, prompt, clipSkip);
        if (!withNegative) return new PromptConditioning(embeds, null, pooled, null);
        if (negativePrompt is null && forceZerosForEmptyPrompt)
            return new PromptConditioning(embeds, zeros_like(embeds), pooled, zeros_like(pooled));
        var (negEmbeds, negPooled) = EncodeXl(pipe, negativePrompt ?? "", null);
        return new PromptConditioning(embeds, negEmbeds, pooled, negPooled);
    }

    /// <summary>
    /// The conditioning the training scripts use for a batch of prompts: SD = last_hidden_state; SDXL = both encoders'
    /// penultimate hidden states concatenated, plus text_encoder_2's pooled text_embeds. Gradients follow the caller.
    /// </summary>
    public static (Tensor Embeds, Tensor? Pooled) EncodeForTraining(StableDiffusionPipeline pipe, IReadOnlyList<string> prompts)
    {
        using var scope = NewDisposeScope();
        var (ids, _) = pipe.Tokenizer.EncodeBatch(prompts);
        using var out1 = pipe.TextEncoder.Encode(ids.to(pipe.Device));
        if (!pipe.IsXL) return (out1.LastHiddenState.alias().MoveToOuterDisposeScope(), null);
        var (ids2, _) = pipe.Tokenizer2!.EncodeBatch(prompts);
        using var out2 = pipe.TextEncoder2!.Encode(ids2.to(pipe.Device));
        var embeds = cat([out1.PenultimateHiddenState, out2.PenultimateHiddenState], dim: -1);
        return (embeds.MoveToOuterDisposeScope(), out2.TextEmbeds!.alias().MoveToOuterDisposeScope());
    }

    private static Tensor EncodeSd(CLIPTokenizer tokenizer, CLIPTextEncoderBase encoder, string prompt, int? clipSkip, Device device)
    {
        using var scope = NewDisposeScope();
        var (ids, _) = tokenizer.EncodeBatch([prompt]);
        using var output = encoder.Encode(ids.to(device));
        var embeds = clipSkip is int skip
            ? encoder.FinalLayerNorm(output.HiddenStateForClipSkip(skip))   // A1111 "CLIP skip": an earlier layer, normalised
            : output.LastHiddenState.alias();
        return embeds.MoveToOuterDisposeScope();
    }

    // SDXL: both encoders' hidden_states[-(clip_skip + 2)] (penultimate by default, no final LayerNorm), concatenated;
    // pooled = text_encoder_2's projected text_embeds.
    private static (Tensor Embeds, Tensor Pooled) EncodeXl(StableDiffusionPipeline pipe, string prompt, int? clipSkip)
    {
        using var scope = NewDisposeScope();
        var layer = (clipSkip ?? 0) + 1;
        var (ids1, _) = pipe.Tokenizer.EncodeBatch([prompt]);
        var (ids2, _) = pipe.Tokenizer2!.EncodeBatch([prompt]);
        using var out1 = pipe.TextEncoder.Encode(ids1.to(pipe.Device));
        using var out2 = pipe.TextEncoder2!.Encode(ids2.to(pipe.Device));
        var embeds = cat([out1.HiddenStateForClipSkip(layer), out2.HiddenStateForClipSkip(layer)], dim: -1);
        var pooled = (out2.TextEmbeds ?? throw new DreamBoothException("text_encoder_2 of an SDXL pipeline must be a CLIPTextModelWithProjection.")).alias();
        return (embeds.MoveToOuterDisposeScope(), pooled.MoveToOuterDisposeScope());
    }
}
