namespace DreamBooth.Tests.Evaluation;

using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Torch;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>The tiny CLIPModel against transformers' outputs for the processor's own pixel_values and token ids.</summary>
public sealed class EvalCLIPModelTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    [Fact]
    public void Config_DiffSerialisedSubConfigs_TakeClassDefaults()
    {
        var config = CLIPConfig.Load(Path.Combine(EvalFixtures.ClipDir, "config.json"));
        Assert.Equal(16, config.ProjectionDim);
        Assert.Equal((32, 2, 4, 64), (config.Text.HiddenSize, config.Text.NumHiddenLayers, config.Text.NumAttentionHeads, config.Text.IntermediateSize));
        Assert.Equal((49408, 77, "quick_gelu", 1e-5), (config.Text.VocabSize, config.Text.MaxPositionEmbeddings, config.Text.HiddenAct, config.Text.LayerNormEps));
        Assert.Equal((0, 2), (config.Text.BosTokenId, config.Text.EosTokenId));
        Assert.Equal((32, 2, 4, 64), (config.Vision.HiddenSize, config.Vision.NumHiddenLayers, config.Vision.NumAttentionHeads, config.Vision.IntermediateSize));
        Assert.Equal((224, 32, 3, 50), (config.Vision.ImageSize, config.Vision.PatchSize, config.Vision.NumChannels, config.Vision.NumPositions));
    }

    [Fact]
    public void Features_FromReferenceInputs_MatchTransformers()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Path.Combine(EvalFixtures.ClipDir, "reference.safetensors"));
        using var model = CLIPModel.FromPretrained(EvalFixtures.ClipDir);
        using var noGrad = no_grad();

        var pixels = reference.Read("clip.image.pixel_values");
        var vision = model.EncodeImages(pixels);
        Check(reference, "clip.image.vision_last_hidden_state", vision.LastHiddenState);
        Check(reference, "clip.image.vision_pooler_output", vision.PooledOutput);
        var imageEmbeds = model.GetImageFeatures(pixels);
        Check(reference, "clip.image.image_embeds", imageEmbeds);

        var ids = reference.Read("clip.text.input_ids");
        Check(reference, "clip.text.pooler_output", model.EncodeText(ids).PooledOutput);
        var textEmbeds = model.GetTextFeatures(ids);
        Check(reference, "clip.text.text_embeds", textEmbeds);
        Check(reference, "clip.text.text_embeds_max_length", model.GetTextFeatures(reference.Read("clip.text.input_ids_max_length")));

        var result = model.call(ids, pixels);
        Check(reference, "clip.logits_per_image", result.LogitsPerImage);
        Check(reference, "clip.logits_per_text", result.LogitsPerText);
        Check(reference, "clip.cos_image_text", result.ImageEmbeds.matmul(result.TextEmbeds.t()));
        Check(reference, "clip.cos_image_image", result.ImageEmbeds.matmul(result.ImageEmbeds.t()));
        Check(reference, "clip.cos_text_text", result.TextEmbeds.matmul(result.TextEmbeds.t()));
        Assert.Equal(reference.Read("clip.logit_scale").item<float>(), Math.Log(model.LogitScale), 6);
    }

    [Fact]
    public void Tokenizer_FixturePrompts_GivesReferenceIds()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Path.Combine(EvalFixtures.ClipDir, "reference.safetensors"));
        // The reference ran without ftfy: transformers' BasicTokenizer fallback.
        var tokenizer = CLIPTokenizer.FromFolder(EvalFixtures.ClipDir, TextNormalization.Plain);
        var (ids, mask) = tokenizer.EncodeBatch(EvalFixtures.Prompts);
        Assert.Equal(reference.Read("clip.text.input_ids_max_length").data<long>().ToArray(), ids.data<long>().ToArray());
        Assert.Equal(reference.Read("clip.text.attention_mask").data<long>().ToArray(), mask.data<long>().ToArray());
    }

    [Fact]
    public void VisionModel_FromCLIPModelFolder_MatchesCLIPModelVisionTower()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Path.Combine(EvalFixtures.ClipDir, "reference.safetensors"));
        using var model = CLIPVisionModel.FromPretrained(EvalFixtures.ClipDir);
        Assert.All(model.state_dict().Keys, k => Assert.StartsWith("vision_model.", k));
        using var noGrad = no_grad();
        var vision = model.call(reference.Read("clip.image.pixel_values"));
        Check(reference, "clip.image.vision_pooler_output", vision.PooledOutput);
    }

    [Fact]
    public void EncodeImages_WrongSize_ThrowsReadableError()
    {
        TorchRuntime.EnsureLoaded();
        using var model = CLIPModel.FromPretrained(EvalFixtures.ClipDir);
        using var pixels = zeros(1, 3, 256, 256);
        var e = Assert.Throws<DreamBoothException>(() => model.EncodeImages(pixels));
        Assert.Contains("224", e.Message);
    }

    private void Check(SafeTensorsFile reference, string name, Tensor actual)
    {
        var expected = reference.Read(name);
        Assert.Equal(expected.shape, actual.shape);
        var error = (actual - expected).abs().max().item<float>();
        output.WriteLine($"{name}: max abs error {error:E2}");
        Assert.True(error <= Tolerance, $"{name}: max abs error {error:E2} > {Tolerance:E0}");
    }
}
