namespace DreamBooth.Tests.Evaluation;

using DreamBooth.IO;
using DreamBooth.Models.Vit;
using DreamBooth.Torch;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>The tiny DINO ViTModel against transformers' outputs for the processor's own pixel_values.</summary>
public sealed class EvalViTModelTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    [Fact]
    public void Features_FromReferencePixels_MatchTransformers()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Path.Combine(EvalFixtures.DinoDir, "reference.safetensors"));
        using var model = ViTModel.FromPretrained(EvalFixtures.DinoDir);
        Assert.Equal((24, 3, 96, 1e-12, "gelu"), (model.Config.HiddenSize, model.Config.NumAttentionHeads, model.Config.IntermediateSize,
                                                 model.Config.LayerNormEps, model.Config.HiddenAct));
        using var noGrad = no_grad();
        var pixels = reference.Read("dino.image.pixel_values");
        Check(reference, "dino.last_hidden_state", model.call(pixels));
        var cls = model.GetClsEmbedding(pixels);
        Check(reference, "dino.cls", cls);
        var unit = cls / cls.norm(-1, keepdim: true);
        Check(reference, "dino.cos", unit.matmul(unit.t()));
    }

    [Fact]
    public void FromPretrained_CheckpointWithPooler_SkipsPooler()
    {
        TorchRuntime.EnsureLoaded();
        var dir = Directory.CreateTempSubdirectory("vit-pooler-").FullName;
        try
        {
            using var scope = NewDisposeScope();
            using (var file = SafeTensorsFile.Open(Path.Combine(EvalFixtures.DinoDir, "model.safetensors")))
            {
                var tensors = file.Tensors.ToDictionary(t => t.Name, t => file.Read(t.Name));
                tensors["pooler.dense.weight"] = ones(24, 24);
                tensors["pooler.dense.bias"] = ones(24);
                SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), tensors);
            }
            File.Copy(Path.Combine(EvalFixtures.DinoDir, "config.json"), Path.Combine(dir, "config.json"));
            using var model = ViTModel.FromPretrained(dir);
            Assert.DoesNotContain(model.state_dict().Keys, k => k.StartsWith("pooler", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
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
