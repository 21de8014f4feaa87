namespace DreamBooth.Tests.Training;

using DreamBooth.Pipelines;
using DreamBooth.Training;
using static TorchSharp.torch;

/// <summary>The text conditioning of a batch whose images have different prompts (captions).</summary>
public sealed class ConditionerTests
{
    private static TrainImage Image(string prompt) => new(empty(0), (32, 32), (0, 0), prompt, (32, 32));

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.equal(b).all().item<bool>();

    [Fact]
    public void For_EachImageIsConditionedOnItsOwnPrompt_FrozenOrTrainedEncoder()
    {
        using var pipe = PipelineLoader.Load(Fixtures.Path("sd15-tiny"));
        string[] prompts = ["a photo of sks dog", "sks dog asleep on a sofa", "a photo of sks dog", "a photo of dog"];
        var instances = prompts[..3].Select(Image).ToList();
        var classes = new[] { Image(prompts[3]) };
        using var noGrad = no_grad();

        // Frozen: each prompt encoded once, on its own, and each row is its image's.
        using (var frozen = new Conditioner(pipe, trainTextEncoder: false, prompts))
        {
            var context = frozen.For(instances, classes).Context;
            for (int i = 0; i < prompts.Length; i++)
                Assert.True(Same(context[i], PromptEncoding.EncodeForTraining(pipe, [prompts[i]]).Embeds[0]), $"row {i}");
            Assert.False(Same(context[0], context[1]), "a caption must not be conditioned like the prompt");
        }
        // Trained: the batch's prompts are encoded together each step, in the batch's order.
        using var trained = new Conditioner(pipe, trainTextEncoder: true, prompts);
        Assert.True(Same(trained.For(instances, classes).Context, PromptEncoding.EncodeForTraining(pipe, prompts).Embeds));
    }

    [Fact]
    public void SdxlTimeIds_AreEachImagesOriginalSize_Crop_AndBucket()
    {
        using var pipe = PipelineLoader.Load(Fixtures.Path("sdxl-tiny"));
        using var noGrad = no_grad();
        using var conditioner = new Conditioner(pipe, trainTextEncoder: false, ["a photo of sks dog"]);
        var wide = new TrainImage(empty(0), (480, 800), (0, 4), "a photo of sks dog", (24, 40));
        var square = new TrainImage(empty(0), (32, 32), (0, 0), "a photo of sks dog", (32, 32));
        var ids = conditioner.For([wide], [square]).Added!.Value.TimeIds;
        Assert.Equal(new float[] { 480, 800, 0, 4, 24, 40, 32, 32, 0, 0, 32, 32 }, ids.data<float>().ToArray());
    }
}
