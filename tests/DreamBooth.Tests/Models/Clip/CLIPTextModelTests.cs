namespace DreamBooth.Tests.Models.Clip;

using System.Text.Json;
using DreamBooth.IO;
using DreamBooth.Loading;
using DreamBooth.Models.Clip;
using DreamBooth.Torch;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

public sealed class CLIPTextModelTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    public static TheoryData<string, string> FixtureEncoders => new()
    {
        { "sd15-tiny", "text_encoder" },
        { "sd2-tiny-v", "text_encoder" },
        { "sdxl-tiny", "text_encoder" },
        { "sdxl-tiny", "text_encoder_2" },
    };

    [Theory]
    [MemberData(nameof(FixtureEncoders))]
    public void Encode_FixturePipeline_MatchesEveryReferenceTensor(string pipeline, string component)
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        using var reference = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        using var encoder = CLIPTextEncoder.FromPretrained(Fixtures.Path(pipeline, component));
        Assert.Equal(component == "text_encoder_2", encoder is CLIPTextModelWithProjection);

        var ids = reference.Read($"{component}.input_ids");
        using var noGrad = no_grad();
        var result = encoder.Encode(ids);
        Assert.Equal(encoder.Config.NumHiddenLayers + 1, result.HiddenStates.Count);

        var compared = 0;
        foreach (var info in reference.Tensors.Where(t => t.Name.StartsWith(component + ".", StringComparison.Ordinal)))
        {
            var what = info.Name[(component.Length + 1)..];
            if (what == "input_ids") continue;
            Tensor actual = what switch
            {
                "last_hidden_state" => result.LastHiddenState,
                "pooler_output" => result.PooledOutput,
                "hidden_states_embeddings" => result.HiddenStates[0],
                "hidden_states_penultimate" => result.PenultimateHiddenState,
                "text_embeds" => result.TextEmbeds ?? throw new InvalidOperationException("no text_embeds"),
                _ => throw new InvalidOperationException($"reference tensor {info.Name} is not covered by this test"),
            };
            var expected = reference.Read(info.Name);
            Assert.Equal(expected.shape, actual.shape);
            var error = (actual - expected).abs().max().item<float>();
            output.WriteLine($"{pipeline}/{info.Name}: max abs error {error:E2}");
            Assert.True(error <= Tolerance, $"{pipeline}/{info.Name}: max abs error {error:E2} > {Tolerance:E0}");
            compared++;
        }
        Assert.Equal(4, compared);   // embeddings, penultimate, last hidden state, pooled or text_embeds
    }

    public static TheoryData<string, string> FullSizeManifests => new()
    {
        { "sd15", "text_encoder" },
        { "sd21", "text_encoder" },
        { "sdxl", "text_encoder" },
        { "sdxl", "text_encoder_2" },
    };

    [Theory]
    [MemberData(nameof(FullSizeManifests))]
    public void StateDict_FullSizeConfigOnMeta_MatchesManifestKeysShapesAndCount(string model, string component)
    {
        TorchRuntime.EnsureLoaded();
        var dir = Fixtures.Path("manifests", model, component);
        using var manifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")));
        var root = manifest.RootElement;
        var expected = root.GetProperty("keys").EnumerateArray()
            .Select(k => $"{k.GetProperty("name").GetString()} [{string.Join(",", k.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()))}]")
            .ToList();

        var config = CLIPTextConfig.Load(Path.Combine(dir, "config.json"));
        using var encoder = CLIPTextEncoder.Create(config, META);
        Assert.Equal(root.GetProperty("class").GetString(), encoder.GetType().Name);
        var module = (nn.Module)encoder;
        Assert.All(module.parameters(), p => Assert.Equal(DeviceType.META, p.device_type));   // nothing allocated
        var actual = module.state_dict().Select(kv => $"{kv.Key} [{string.Join(",", kv.Value.shape)}]").ToList();

        Assert.Equal(expected, actual);   // same keys, shapes and order as transformers' state_dict()
        Assert.Equal(root.GetProperty("num_parameters").GetInt64(), encoder.ParameterCount);
    }

    [Fact]
    public void FromPretrained_CheckpointWithPositionIds_LoadsAndMatches()
    {
        TorchRuntime.EnsureLoaded();
        var source = Fixtures.Path("sd15-tiny", "text_encoder");
        var dir = Directory.CreateTempSubdirectory("clip-position-ids-").FullName;
        try
        {
            using var scope = NewDisposeScope();
            using (var file = SafeTensorsFile.Open(Path.Combine(source, "model.safetensors")))
            {
                var tensors = file.Tensors.ToDictionary(t => t.Name, t => file.Read(t.Name));
                tensors["text_model.embeddings.position_ids"] = arange(77L).unsqueeze(0);   // as transformers < 4.31 saved it
                SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), tensors);
            }
            File.Copy(Path.Combine(source, "config.json"), Path.Combine(dir, "config.json"));

            using var legacy = CLIPTextModel.FromPretrained(dir);
            using var current = CLIPTextModel.FromPretrained(source);
            Assert.DoesNotContain("text_model.embeddings.position_ids", legacy.state_dict().Keys);
            using var noGrad = no_grad();
            var ids = tensor(new long[] { 49406, 320, 1125, 539, 49407, 49407 }).unsqueeze(0);
            Assert.Equal(0f, MaxAbsDiff(legacy.Encode(ids).LastHiddenState, current.Encode(ids).LastHiddenState));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void FromPretrained_ProjectionMissing_ThrowsNamingKey()
    {
        TorchRuntime.EnsureLoaded();
        // sd15's text_encoder has no text_projection.weight: the projection model must refuse it.
        var e = Assert.Throws<DreamBoothException>(() => CLIPTextModelWithProjection.FromPretrained(Fixtures.Path("sd15-tiny", "text_encoder")));
        Assert.Contains("text_projection.weight", e.Message);
    }

    [Fact]
    public void FromPretrained_ProjectionCheckpointIntoPlainModel_PooledEqualsProjectionModel()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var dir = Fixtures.Path("sdxl-tiny", "text_encoder_2");
        using var plain = CLIPTextModel.FromPretrained(dir);
        using var projected = CLIPTextModelWithProjection.FromPretrained(dir);
        using var noGrad = no_grad();
        var ids = tensor(new long[] { 49406, 320, 1125, 49407, 0, 0 }).unsqueeze(0);
        var a = plain.Encode(ids);
        var b = projected.Encode(ids);
        Assert.Null(a.TextEmbeds);
        Assert.Equal(0f, MaxAbsDiff(a.PooledOutput, b.PooledOutput));
    }

    [Fact]
    public void Encode_CurrentEosTokenId_PoolsAtFirstEos()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var dir = Fixtures.Path("sd15-tiny", "text_encoder");
        // Post-PR-#24773 configs carry the real eos id; pooling must then ignore larger ids after it.
        var config = CLIPTextConfig.Load(Path.Combine(dir, "config.json")) with { EosTokenId = 320 };
        using var model = new CLIPTextModel(config);
        using (var source = TensorSource.Open(WeightFiles.Find(dir, "model")))
            StateDictLoader.Load(model, source, "sd15-tiny/text_encoder");
        using var noGrad = no_grad();
        var ids = tensor(new long[,] { { 49406, 1125, 320, 539, 320, 49407 }, { 49406, 320, 49407, 49407, 49407, 49407 } });
        var result = model.Encode(ids);
        Assert.Equal(0f, MaxAbsDiff(result.PooledOutput[0], result.LastHiddenState[0, 2]));
        Assert.Equal(0f, MaxAbsDiff(result.PooledOutput[1], result.LastHiddenState[1, 1]));
    }

    [Fact]
    public void Encode_LegacyEosTokenId_PoolsAtFirstLargestId()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        using var model = CLIPTextModel.FromPretrained(Fixtures.Path("sd15-tiny", "text_encoder"));
        using var noGrad = no_grad();
        var ids = tensor(new long[] { 49406, 1125, 49407, 49407, 49407 }).unsqueeze(0);   // pad = eos, as SD 1.x pads
        var result = model.Encode(ids);
        Assert.Equal(0f, MaxAbsDiff(result.PooledOutput[0], result.LastHiddenState[0, 2]));
    }

    [Fact]
    public void Encode_TooManyTokens_ThrowsReadableError()
    {
        TorchRuntime.EnsureLoaded();
        using var model = CLIPTextModel.FromPretrained(Fixtures.Path("sd15-tiny", "text_encoder"));
        using var ids = zeros(1, 78, ScalarType.Int64);
        var e = Assert.Throws<DreamBoothException>(() => model.Encode(ids));
        Assert.Contains("77", e.Message);
    }

    [Fact]
    public void FromPretrained_Float16_CloseToFloat32()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var dir = Fixtures.Path("sdxl-tiny", "text_encoder_2");
        using var full = CLIPTextModelWithProjection.FromPretrained(dir);
        using var half = CLIPTextModelWithProjection.FromPretrained(dir, dtype: ScalarType.Float16);
        Assert.All(half.parameters(), p => Assert.Equal(ScalarType.Float16, p.dtype));
        using var noGrad = no_grad();
        var ids = tensor(new long[] { 49406, 320, 1125, 539, 49407, 0, 0, 0 }).unsqueeze(0);
        var a = full.Encode(ids);
        var b = half.Encode(ids);
        Assert.Equal(ScalarType.Float16, b.LastHiddenState.dtype);
        var error = (a.TextEmbeds! - b.TextEmbeds!.to(ScalarType.Float32)).abs().max().item<float>();
        Assert.True(error < 2e-2, $"fp16 text_embeds differ from fp32 by {error}");
    }

    [Fact]
    public void FinalLayerNorm_OnLastHiddenState_EqualsLastHiddenState()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        using var model = CLIPTextModel.FromPretrained(Fixtures.Path("sd15-tiny", "text_encoder"));
        using var noGrad = no_grad();
        var result = model.Encode(tensor(new long[] { 49406, 320, 49407 }).unsqueeze(0));
        Assert.Equal(0f, MaxAbsDiff(model.FinalLayerNorm(result.HiddenStates[^1]), result.LastHiddenState));
        Assert.Same(result.HiddenStates[^1], result.HiddenStateForClipSkip(0));
        Assert.Same(result.PenultimateHiddenState, result.HiddenStateForClipSkip(1));
    }

    [Fact]
    public void Encode_Backward_ReachesEveryParameterAndOnlyUsedTokenRows()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        using var model = CLIPTextModelWithProjection.FromPretrained(Fixtures.Path("sdxl-tiny", "text_encoder_2"));
        model.train();   // DreamBooth can fine-tune the text encoder
        var ids = tensor(new long[] { 49406, 320, 1125, 320, 49407, 0, 0 }).unsqueeze(0);
        var result = model.Encode(ids);
        (result.TextEmbeds!.sum() + result.PenultimateHiddenState.pow(2).sum()).backward();

        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, parameter) in parameters)
            Assert.True(parameter.grad is { } g && g.abs().sum().item<float>() > 0, $"{name} got no gradient");
        var tokenGrad = parameters["text_model.embeddings.token_embedding.weight"].grad!;
        Assert.True(tokenGrad[320].abs().sum().item<float>() > 0);
        Assert.Equal(0f, tokenGrad[5000].abs().sum().item<float>());        // unused token: no gradient
        var positionGrad = parameters["text_model.embeddings.position_embedding.weight"].grad!;
        Assert.Equal(0f, positionGrad[7..].abs().sum().item<float>());      // positions beyond the 7 tokens
    }

    [Fact]
    public void Embedding_RepeatedIndices_LookUpRowsAndAccumulateGradients()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        using var embedding = new Embedding(new TorchSharp.Modules.Parameter(arange(12f).view(4, 3)));
        var ids = tensor(new long[,] { { 2, 0, 2 }, { 2, 3, 3 } });
        var output = embedding.call(ids);                                     // [2, 3, 3]
        Assert.Equal([2L, 3, 3], output.shape);
        Assert.Equal(0f, MaxAbsDiff(output[1, 1], tensor(new float[] { 9, 10, 11 })));
        output.sum().backward();
        var expected = tensor(new float[] { 1, 0, 3, 2 }).unsqueeze(1).expand(4, 3);   // occurrences per row
        Assert.Equal(0f, MaxAbsDiff(embedding.Weight.grad!, expected));
    }

    [Theory]
    [InlineData("\"hidden_act\": \"relu\"", "hidden_act")]
    [InlineData("\"num_attention_heads\": 5", "num_attention_heads")]
    [InlineData("\"hidden_size\": \"wide\"", "hidden_size")]
    public void Config_InvalidValue_ThrowsNamingKey(string entry, string key)
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("clip-config-").FullName, "config.json");
        try
        {
            File.WriteAllText(path, "{ \"vocab_size\": 100, " + entry + " }");
            var e = Assert.Throws<DreamBoothException>(() => CLIPTextConfig.Load(path));
            Assert.Contains(key, e.Message);
            Assert.Contains(path, e.Message);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public void Config_TinyFixture_ParsesEveryField()
    {
        var config = CLIPTextConfig.Load(Fixtures.Path("sdxl-tiny", "text_encoder_2", "config.json"));
        Assert.Equal(
            new CLIPTextConfig
            {
                VocabSize = 49408, HiddenSize = 32, IntermediateSize = 37, ProjectionDim = 32, NumHiddenLayers = 3,
                NumAttentionHeads = 4, MaxPositionEmbeddings = 77, HiddenAct = "gelu", LayerNormEps = 1e-5,
                PadTokenId = 1, BosTokenId = 0, EosTokenId = 2, Architectures = config.Architectures,
            },
            config);
        Assert.True(config.HasProjection);
        Assert.Equal(["CLIPTextModelWithProjection"], config.Architectures);
    }

    private static float MaxAbsDiff(Tensor a, Tensor b)
    {
        Assert.Equal(a.shape, b.shape);
        using var diff = (a - b).abs().max();
        return diff.item<float>();
    }
}
