namespace DreamBooth.Tests.Pipelines;

using System.Text.Json;
using DreamBooth.IO;
using DreamBooth.Pipelines;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>Whole-pipeline runs against diffusers' recorded outputs (fixtures' pipeline.* tensors).</summary>
public sealed class StableDiffusionPipelineParityTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> Runs()
    {
        var data = new TheoryData<string, string>();
        foreach (var pipeline in Fixtures.Pipelines)
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path(pipeline, "reference.json")));
            foreach (var run in doc.RootElement.GetProperty("sections").GetProperty("pipeline").GetProperty("runs").EnumerateObject())
                data.Add(pipeline, run.Name);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void Generate_FixtureRun_MatchesDiffusers(string pipeline, string runName)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path(pipeline, "reference.json")));
        var section = doc.RootElement.GetProperty("sections").GetProperty("pipeline");
        var run = section.GetProperty("runs").GetProperty(runName);
        var call = run.GetProperty("call").GetString()!;
        using var reference = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        using var pipe = PipelineLoader.Load(Fixtures.Path(pipeline));
        using var latents = reference.Read("pipeline.latents");
        var prefix = $"pipeline.{runName}.";

        var stepLatents = new List<Tensor>();
        var stepUnetOut = new List<Tensor>();
        var request = new GenerationRequest
        {
            Prompt = section.GetProperty("prompt").GetString()!,
            NegativePrompt = call.Contains("negative_prompt=None", StringComparison.Ordinal) ? null : section.GetProperty("negative_prompt").GetString(),
            Steps = section.GetProperty("num_inference_steps").GetInt32(),
            GuidanceScale = section.GetProperty("guidance_scale").GetDouble(),
            Width = section.GetProperty("width").GetInt32(),
            Height = section.GetProperty("height").GetInt32(),
            Latents = latents,
            Seed = run.GetProperty("generator_seed").GetUInt64(),
            Scheduler = run.GetProperty("scheduler_class").GetString(),
        };
        using var result = pipe.Generate(request, step =>
        {
            stepLatents.Add(step.Latents.detach().clone().DetachFromDisposeScope());
            stepUnetOut.Add(step.UnetOutput.detach().clone().DetachFromDisposeScope());
        });

        using var expectedImages = reference.Read(prefix + "images");                        // [1, H, W, 3]
        var images = result.Images.permute(0, 2, 3, 1);
        var imageError = (images - expectedImages).abs().max().item<float>();

        using var expectedLatents = reference.Read(prefix + "step_latents");
        using var expectedUnet = reference.Read(prefix + "step_unet_output");
        Assert.Equal(expectedLatents.shape[0], stepLatents.Count);
        for (int i = 0; i < stepLatents.Count; i++)
        {
            var scale = expectedLatents[i].abs().max().item<float>();
            var latentRel = (stepLatents[i] - expectedLatents[i]).abs().max().item<float>() / Math.Max(1f, scale);
            var unetErr = (stepUnetOut[i] - expectedUnet[i]).abs().max().item<float>();
            output.WriteLine($"step {i}: latents rel {latentRel:E2}, unet out {unetErr:E2}");
            Assert.True(latentRel < 1e-4, $"{pipeline}/{runName} step {i}: latents differ by {latentRel:E2} (relative to max)");
        }
        output.WriteLine($"{pipeline}/{runName}: image max abs error {imageError:E2}");
        Assert.True(imageError <= 1e-3, $"{pipeline}/{runName}: image error {imageError:E2}");
        foreach (var t in stepLatents.Concat(stepUnetOut)) t.Dispose();
    }

    [Theory]
    [InlineData("sd15-tiny", "DDIM")]
    [InlineData("sd2-tiny-v", "DDIM")]
    [InlineData("sdxl-tiny", "EulerDiscrete")]
    public void Generate_SeedOnly_EqualsRunWithSeededLatents(string pipeline, string runName)
    {
        // pipeline.latents were drawn as torch.randn(1,4,h,w, generator=manual_seed(seed)); a seed-only call draws the same.
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path(pipeline, "reference.json")));
        var seed = doc.RootElement.GetProperty("tensors").GetProperty("pipeline.latents").GetProperty("args").GetProperty("seed").GetUInt64();
        var section = doc.RootElement.GetProperty("sections").GetProperty("pipeline");
        using var reference = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        using var pipe = PipelineLoader.Load(Fixtures.Path(pipeline));
        using var result = pipe.Generate(new GenerationRequest
        {
            Prompt = section.GetProperty("prompt").GetString()!,
            NegativePrompt = section.GetProperty("negative_prompt").GetString(),
            Steps = 4,
            GuidanceScale = 7.5,
            Width = 32,
            Height = 32,
            Seed = seed,
            Scheduler = section.GetProperty("runs").GetProperty(runName).GetProperty("scheduler_class").GetString(),
        });
        using var expected = reference.Read($"pipeline.{runName}.images");
        var error = (result.Images.permute(0, 2, 3, 1) - expected).abs().max().item<float>();
        output.WriteLine($"{pipeline}/{runName} seed {seed}: image max abs error {error:E2}");
        Assert.True(error <= 1e-3);
    }

    [Fact]
    public void Generate_PromptEmbeds_MatchPipelineConditioning()
    {
        foreach (var pipeline in Fixtures.Pipelines)
        {
            using var reference = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
            using var pipe = PipelineLoader.Load(Fixtures.Path(pipeline));
            using var noGrad = no_grad();
            var cond = PromptEncoding.Encode(pipe, "a photo of sks dog", "blurry, low quality", null, true, pipe.IsXL);
            using var expected = reference.Read("pipeline.prompt_embeds");                        // [2, 77, D]: [negative, positive]
            var actual = cat([cond.NegativeEmbeds!, cond.PromptEmbeds]);
            Assert.True((actual - expected).abs().max().item<float>() < 1e-4, pipeline);
        }
    }
}
