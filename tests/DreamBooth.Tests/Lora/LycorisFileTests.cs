namespace DreamBooth.Tests.Lora;

using DreamBooth.IO;
using DreamBooth.Lora;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unets;
using DreamBooth.Pipelines;
using Xunit.Abstractions;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

/// <summary>
/// LyCORIS LoHa and LoKr files in kohya naming (random factors on sd15-tiny's Linear, 1×1 and 3×3 conv layers, the
/// strided downsampler and a text-encoder projection): the patched weights are W + multiplier · alpha/rank · ΔW with ΔW
/// rebuilt here in float64 from the formulas of LyCORIS' functional loha.py / lokr.py, the unfused side path computes
/// the same layer outputs, and fused and unfused generation give the same image.
/// </summary>
public sealed class LycorisFileTests(ITestOutputHelper output) : IDisposable
{
    private const string Pipeline = "sd15-tiny";
    private const double Multiplier = 0.7;
    private readonly string dir = Directory.CreateTempSubdirectory("lycoris").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    // UNet modules: Linear (square, wide, cross-attention, time embedding), 1×1 conv, 3×3 convs (one with stride 2).
    private static readonly string[] UnetModules =
    [
        "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q",
        "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj",
        "mid_block.attentions.0.transformer_blocks.0.attn2.to_k",
        "down_blocks.0.resnets.0.time_emb_proj",
        "down_blocks.0.attentions.0.proj_in",
        "down_blocks.0.resnets.0.conv1",
        "mid_block.resnets.0.conv2",
        "down_blocks.0.downsamplers.0.conv",
    ];

    private const string TextModule = "text_model.encoder.layers.0.self_attn.q_proj";

    public enum Variant { LoHa, LoHaTucker, LoKr, LoKrWholeW1, LoKrWhole, LoKrTucker }

    private sealed record Module(string File, string Path, Tensor Weight, Dictionary<string, Tensor> Factors, double Scale);

    [Theory]
    [InlineData(Variant.LoHa)]
    [InlineData(Variant.LoHaTucker)]
    [InlineData(Variant.LoKr)]
    [InlineData(Variant.LoKrWholeW1)]
    [InlineData(Variant.LoKrWhole)]
    [InlineData(Variant.LoKrTucker)]
    public void LycorisFile_Fused_WeightsAreWPlusFormulaDelta_AndUnfusedLayersAgree(Variant variant)
    {
        using var scope = NewDisposeScope();
        using var unet = UNet2DConditionModel.FromPretrained(Fixtures.Path(Pipeline, "unet"));
        using var textEncoder = (nn.Module)CLIPTextEncoder.FromPretrained(Fixtures.Path(Pipeline, "text_encoder"));
        var (path, modules) = WriteFile(variant, unet, textEncoder);
        var targets = new LoraTargets(unet, textEncoder);

        var mapped = LoraLoader.Apply(targets, path, Multiplier, "lyco");
        Assert.Equal(modules.Count, mapped.Count);
        foreach (var m in modules)
        {
            var mapping = mapped.Single(x => x.ModulePath == m.Path);
            Assert.Equal(m.Scale, mapping.Scale, 12);
        }

        // Unfused: each layer's output is op(x, W + m·s·ΔW) (+ bias), ΔW from the formulas in float64.
        var layers = unet.named_modules().Concat(textEncoder.named_modules()).Where(x => x.module is LoraLayer)
                         .ToDictionary(x => x.name, x => (LoraLayer)x.module);
        var generator = new Generator(5);
        double worstOutput = 0;
        foreach (var m in modules)
        {
            var layer = layers[m.Path];
            var expectedWeight = Expected(m);
            var x = m.Weight.dim() == 2 ? randn([3, m.Weight.shape[1]], generator: generator) : randn([1, m.Weight.shape[1], 8, 8], generator: generator);
            using var noGrad = no_grad();
            var actual = layer.forward(x).to(ScalarType.Float64);
            var expected = Op(layer, x.to(ScalarType.Float64), expectedWeight);
            double error = (actual - expected).abs().max().item<double>() / Math.Max(1, expected.abs().max().item<double>());
            worstOutput = Math.Max(worstOutput, error);
            Assert.True(error < 2e-6, $"{m.Path}: unfused output differs from the formula by {error:E2} (relative)");
        }

        // Fused: the base weights become W + m·s·ΔW.
        LoraModel.Fuse(targets);
        double worstWeight = 0;
        foreach (var m in modules)
        {
            var fused = layers[m.Path].BaseWeight.detach().to(ScalarType.Float64);
            var expected = Expected(m);
            var delta = expected - m.Weight.to(ScalarType.Float64);
            double error = (fused - expected).abs().max().item<double>();
            worstWeight = Math.Max(worstWeight, error / delta.abs().max().item<double>());
            Assert.True(error <= 1e-6 * Math.Max(1, expected.abs().max().item<double>()),
                        $"{m.Path}: fused weight differs from W + ΔW by {error:E2}");
            Assert.True(delta.abs().max().item<double>() > 1e-2, $"{m.Path}: ΔW is negligible; the check would prove nothing");
        }
        output.WriteLine($"{variant}: {modules.Count} modules; worst unfused output error {worstOutput:E2} (relative), " +
                         $"worst fused weight error {worstWeight:E2} (relative to max |ΔW|)");
    }

    [Theory]
    [InlineData(Variant.LoHa)]
    [InlineData(Variant.LoKrTucker)]
    public void LycorisFile_FusedAndUnfused_GenerateTheSameImage(Variant variant)
    {
        var request = new GenerationRequest { Prompt = "a photo of sks dog", Steps = 3, Seed = 11, GuidanceScale = 5 };
        Tensor baseImage;
        using (var plain = PipelineLoader.Load(Fixtures.Path(Pipeline)))
        using (var result = plain.Generate(request))
            baseImage = result.Images.clone();

        using var pipe = PipelineLoader.Load(Fixtures.Path(Pipeline));
        var targets = new LoraTargets(pipe.Unet, pipe.TextEncoder);
        var (path, _) = WriteFile(variant, pipe.Unet, pipe.TextEncoder, factorStd: 0.25);
        LoraLoader.Apply(targets, path, Multiplier, "lyco");
        using var unfused = pipe.Generate(request);
        LoraModel.Fuse(targets);
        using var fused = pipe.Generate(request);

        double diff = (fused.Images - unfused.Images).abs().max().item<float>();
        double effect = (unfused.Images - baseImage).abs().max().item<float>();
        output.WriteLine($"{variant}: max |fused − unfused| = {diff:E2}; max |adapted − base| = {effect:E2}");
        Assert.True(effect > 1e-2, $"the adapter barely changes the image ({effect:E2}); the comparison would prove nothing");
        Assert.True(diff <= 1e-4, $"fused and unfused images differ by {diff:E2}");
    }

    [Fact]
    public void LycorisFile_IncompleteOrMismatched_RefusedNamingTheModule()
    {
        var f = Path.Combine(dir, "bad.safetensors");
        SafeTensorsWriter.Write(f, new Dictionary<string, Tensor>
        {
            ["lora_unet_x.hada_w1_a"] = zeros(2, 2), ["lora_unet_x.hada_w1_b"] = zeros(2, 2), ["lora_unet_x.hada_w2_a"] = zeros(2, 2),
        });
        var e = Assert.Throws<DreamBoothException>(() => LoraFile.Open(f));
        output.WriteLine(e.Message);
        Assert.Contains("LoHa module 'x' lacks hada_w2_b", e.Message);

        SafeTensorsWriter.Write(f, new Dictionary<string, Tensor>
        {
            ["lora_unet_x.lokr_w1"] = zeros(2, 2), ["lora_unet_x.lokr_w1_a"] = zeros(2, 1), ["lora_unet_x.lokr_w2"] = zeros(2, 2),
        });
        e = Assert.Throws<DreamBoothException>(() => LoraFile.Open(f));
        output.WriteLine(e.Message);
        Assert.Contains("has both lokr_w1 and its factors", e.Message);

        // A LoKr whose Kronecker product is [8, 8] on a [32, 32] Linear.
        var module = "lora_unet_" + UnetModules[0].Replace('.', '_');
        SafeTensorsWriter.Write(f, new Dictionary<string, Tensor> { [module + ".lokr_w1"] = zeros(2, 2), [module + ".lokr_w2"] = zeros(4, 4) });
        using var unet = UNet2DConditionModel.FromPretrained(Fixtures.Path(Pipeline, "unet"));
        e = Assert.Throws<DreamBoothException>(() => LoraLoader.Apply(new LoraTargets(unet), f));
        output.WriteLine(e.Message);
        Assert.Contains("[8, 8]", e.Message);
        Assert.Contains(UnetModules[0], e.Message);

        var (good, _) = WriteFile(Variant.LoHa, unet, null);
        e = Assert.Throws<DreamBoothException>(() => LoraLoader.Apply(new LoraTargets(unet), good, options: new LoraLoadOptions { Trainable = true }));
        Assert.Contains("not for further training", e.Message);
    }

    [Fact]
    public void LycorisAdapter_HasNoLoraMatrices_AndCanBeDeleted()
    {
        using var unet = UNet2DConditionModel.FromPretrained(Fixtures.Path(Pipeline, "unet"));
        var (path, modules) = WriteFile(Variant.LoKr, unet, null);
        LoraLoader.Apply(new LoraTargets(unet), path, adapterName: "lyco");
        var layer = LoraModel.Layers(unet).Single(l => l.Path == modules[0].Path).Layer;
        Assert.Equal(LoraAlgorithm.LoKr, layer.Lycoris("lyco")!.Algorithm);
        var e = Assert.Throws<DreamBoothException>(() => layer.A("lyco"));
        Assert.Contains("LyCORIS LoKr adapter", e.Message);
        LoraModel.DeleteAdapter(unet, "lyco");
        Assert.Empty(LoraModel.AdapterNames(unet));
        using var noGrad = no_grad();
        var x = randn(2, 32);
        Assert.Equal(0f, (layer.forward(x) - nn.functional.linear(x, layer.BaseWeight, ((Modules.Linear)layer.BaseLayer).bias)).abs().max().item<float>());
    }

    [Fact]
    public void RealLokrFile_MapsOntoFullSizeSd15_AndLoads()
    {
        var path = Fixtures.Shared("data", "lora", "kohya_lycoris_lokr", "smart_falcon_8_lokr.safetensors");
        if (path is null)
        {
            output.WriteLine("../shared/data/lora/kohya_lycoris_lokr is absent: nothing to check.");
            return;
        }
        using var unet = new UNet2DConditionModel(UNet2DConditionConfig.Load(Fixtures.Path("manifests", "sd15", "unet", "config.json")), META);
        using var textEncoder = (nn.Module)CLIPTextEncoder.Create(CLIPTextConfig.Load(Fixtures.Path("manifests", "sd15", "text_encoder", "config.json")), META);
        var targets = new LoraTargets(unet, textEncoder);
        IReadOnlyList<LoraModuleMapping> mapped;
        using (var lora = LoraFile.Open(path))
        {
            mapped = LoraLoader.Resolve(targets, lora);
            Assert.All(lora.Entries, e => Assert.Equal(LoraAlgorithm.LoKr, e.Algorithm));
            var used = mapped.SelectMany(m => m.Entry.Keys).ToList();
            Assert.Equal(used.Count, used.Distinct().Count());
            Assert.Equal(1750, used.Count);   // every tensor of the file
        }
        Assert.Equal(350, mapped.Count);
        Assert.Equal(72, mapped.Count(m => m.Component == LoraComponent.TextEncoder));
        Assert.All(mapped, m => Assert.Equal(8, m.Rank));
        Assert.All(mapped, m => Assert.Equal(1.0, m.Scale));   // alpha 8, dim 8
        Assert.Contains(mapped, m => m.ModulePath.EndsWith("resnets.0.conv1", StringComparison.Ordinal));

        // Loading builds every adapter and its ΔW in the layer's shape (META: shapes only).
        LoraLoader.Apply(targets, path, adapterName: "falcon");
        Assert.Equal(350, LoraModel.Layers(unet).Count + LoraModel.Layers(textEncoder).Count);
        output.WriteLine($"{Path.GetFileName(path)}: {mapped.Count} LoKr modules loaded, e.g. '{mapped[0].Entry.Key}' → '{mapped[0].ModulePath}'");
    }

    // ---- the file and the formulas ----

    /// <summary>Writes a kohya-named file with random factors for the target modules; returns what each module gets.</summary>
    private (string Path, List<Module> Modules) WriteFile(Variant variant, nn.Module unet, nn.Module? textEncoder, double factorStd = 0.5)
    {
        var generator = new Generator((ulong)variant + 17);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var modules = new List<Module>();
        var targets = UnetModules.Select(p => (Model: unet, Prefix: "lora_unet_", Path: p)).ToList();
        if (textEncoder is not null) targets.Add((textEncoder, "lora_te_", TextModule));
        foreach (var (model, prefix, modulePath) in targets)
        {
            var weight = model.named_parameters().Single(p => p.name == modulePath + ".weight").parameter.detach().clone();
            var (factors, scale, alpha) = Factors(variant, weight.shape, generator, factorStd);
            var name = prefix + modulePath.Replace('.', '_');
            foreach (var (k, t) in factors) tensors[$"{name}.{k}"] = t;
            if (alpha is not null) tensors[$"{name}.alpha"] = tensor((float)alpha.Value).to(ScalarType.Float16);   // as real files: F16 []
            modules.Add(new Module(name, modulePath, weight, factors, scale));
        }
        var path = Path.Combine(dir, $"{variant}.safetensors");
        SafeTensorsWriter.Write(path, tensors);
        return (path, modules);
    }

    // LyCORIS layouts (lycoris/modules/loha.py, lokr.py): rank 4; Tucker only on kernels larger than 1×1; alpha 2
    // (scale alpha / rank = 0.5), except a LoKr of two whole matrices, whose alpha (3 here) LyCORIS ignores (scale 1).
    private static (Dictionary<string, Tensor> Factors, double Scale, double? Alpha) Factors(Variant variant, long[] w, Generator g, double std)
    {
        const int r = 4;
        long outDim = w[0], inDim = w[1], k = w.Length == 4 ? w[2] * w[3] : 1;
        bool tucker = (variant is Variant.LoHaTucker or Variant.LoKrTucker) && k > 1;
        Tensor R(params long[] shape) => randn(shape, generator: g) * std;
        var f = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        if (variant is Variant.LoHa or Variant.LoHaTucker)
        {
            foreach (var i in new[] { 1, 2 })
            {
                if (tucker)
                {
                    f[$"hada_t{i}"] = R(r, r, w[2], w[3]);
                    f[$"hada_w{i}_a"] = R(r, outDim);
                    f[$"hada_w{i}_b"] = R(r, inDim);
                }
                else
                {
                    f[$"hada_w{i}_a"] = R(outDim, r);
                    f[$"hada_w{i}_b"] = R(r, inDim * k);
                }
            }
            return (f, 2.0 / r, 2.0);
        }
        // out = a·b, in = c·d with the smaller factor first (LyCORIS' factorization picks a ≤ b, c ≤ d).
        long a = outDim % 4 == 0 ? 4 : 2, c = inDim % 4 == 0 ? 4 : 2, b = outDim / a, d = inDim / c;
        if (variant is Variant.LoKr) { f["lokr_w1_a"] = R(a, r); f["lokr_w1_b"] = R(r, c); }
        else f["lokr_w1"] = R(a, c);
        if (variant is Variant.LoKrWhole)
        {
            f["lokr_w2"] = k > 1 ? R(b, d, w[2], w[3]) : R(b, d);
            return (f, 1.0, 3.0);
        }
        if (tucker)
        {
            f["lokr_t2"] = R(r, r, w[2], w[3]);
            f["lokr_w2_a"] = R(r, b);
            f["lokr_w2_b"] = R(r, d);
        }
        else
        {
            f["lokr_w2_a"] = R(b, r);
            f["lokr_w2_b"] = R(r, d * k);
        }
        return (f, 2.0 / r, 2.0);
    }

    /// <summary>W + multiplier · scale · ΔW in float64, ΔW written out from the formulas (no einsum or kron).</summary>
    private static Tensor Expected(Module m)
    {
        var w = m.Weight.shape;
        Tensor F(string name) => m.Factors[name].to(ScalarType.Float64);
        Tensor delta;
        if (m.Factors.ContainsKey("hada_w1_a"))
        {
            Tensor Side(int i) => m.Factors.ContainsKey($"hada_t{i}") ? Tucker(F($"hada_t{i}"), F($"hada_w{i}_a"), F($"hada_w{i}_b"))
                                                                      : F($"hada_w{i}_a").matmul(F($"hada_w{i}_b")).reshape(w);
            delta = Side(1) * Side(2);   // Hadamard product
        }
        else
        {
            var w1 = m.Factors.ContainsKey("lokr_w1") ? F("lokr_w1") : F("lokr_w1_a").matmul(F("lokr_w1_b"));
            var w2 = m.Factors.ContainsKey("lokr_w2") ? F("lokr_w2")
                   : m.Factors.ContainsKey("lokr_t2") ? Tucker(F("lokr_t2"), F("lokr_w2_a"), F("lokr_w2_b"))
                   : F("lokr_w2_a").matmul(F("lokr_w2_b"));
            // Kronecker product block by block: block (i, j) is w1[i, j] · w2 (a flat conv w2 is [b, d·kh·kw]).
            long p = w2.shape[0], q = w2.shape[1];
            var shape = w2.dim() == 4 ? new[] { w1.shape[0] * p, w1.shape[1] * q, w2.shape[2], w2.shape[3] } : [w1.shape[0] * p, w1.shape[1] * q];
            delta = zeros(shape, ScalarType.Float64);
            for (long i = 0; i < w1.shape[0]; i++)
                for (long j = 0; j < w1.shape[1]; j++)
                    delta[TensorIndex.Slice(i * p, (i + 1) * p), TensorIndex.Slice(j * q, (j + 1) * q)] = w1[i, j] * w2;
            delta = delta.reshape(w);
        }
        return m.Weight.to(ScalarType.Float64) + Multiplier * m.Scale * delta;
    }

    // W[o, i, y, x] = Σ_pq a[p, o] · t[p, q, y, x] · b[q, i], kernel position by kernel position: aᵀ · t[:, :, y, x] · b.
    private static Tensor Tucker(Tensor t, Tensor a, Tensor b)
    {
        var result = zeros([a.shape[1], b.shape[1], t.shape[2], t.shape[3]], ScalarType.Float64);
        for (long y = 0; y < t.shape[2]; y++)
            for (long x = 0; x < t.shape[3]; x++)
                result[TensorIndex.Colon, TensorIndex.Colon, y, x] = a.t().matmul(t[TensorIndex.Colon, TensorIndex.Colon, y, x]).matmul(b);
        return result;
    }

    private static Tensor Op(LoraLayer layer, Tensor x, Tensor weight) => layer.BaseLayer switch
    {
        Modules.Linear l => nn.functional.linear(x, weight, l.bias?.to(ScalarType.Float64)),
        Modules.Conv2d c => nn.functional.conv2d(x, weight, c.bias?.to(ScalarType.Float64), c.stride, c.padding, c.dilation),
        _ => throw new InvalidOperationException(),
    };
}
