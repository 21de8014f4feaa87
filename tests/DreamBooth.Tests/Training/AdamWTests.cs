namespace DreamBooth.Tests.Training;

using System.Text.Json;
using DreamBooth.IO;
using DreamBooth.Training;
using TorchSharp;
using Parameter = TorchSharp.Modules.Parameter;
using static TorchSharp.torch;

public sealed class AdamWTests
{
    [Fact]
    public void Options_Defaults_AreDiffusersDreamBoothDefaults()
    {
        var o = new AdamWOptions();
        Assert.Equal((5e-6, 0.9, 0.999, 1e-2, 1e-8), (o.LearningRate, o.Beta1, o.Beta2, o.WeightDecay, o.Epsilon));
        Assert.Throws<DreamBoothException>(() => (o with { Beta2 = 1.0 }).Validated());
        Assert.Throws<DreamBoothException>(() => (o with { LearningRate = -1 }).Validated());
    }

    [Fact]
    public void Step_LargeParameter_UpdatedInSlices_MatchesTheFormulaInFloat64()
    {
        // 3 × 262,144 + 5 elements: three full slices and a short one, and an odd total (a thread split off the SIMD grid).
        using var scope = NewDisposeScope();
        using var generator = new Generator(3);
        long n = 3 * 262144 + 5;
        var start = randn([n], generator: generator);
        using var p = new Parameter(start.clone());
        var grads = new[] { randn([n], generator: generator), randn([n], generator: generator) };
        using var opt = new AdamW([p], new AdamWOptions(LearningRate: 0.01, WeightDecay: 0.01));
        double[] x = start.to(ScalarType.Float64).data<double>().ToArray(), m = new double[n], v = new double[n];
        for (int t = 1; t <= 2; t++)
        {
            p.grad = grads[t - 1];
            opt.Step();
            var g = grads[t - 1].to(ScalarType.Float64).data<double>().ToArray();
            double bc1 = 1 - Math.Pow(0.9, t), bc2 = 1 - Math.Pow(0.999, t);
            for (long i = 0; i < n; i++)
            {
                x[i] *= 1 - 0.01 * 0.01;
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                x[i] -= 0.01 / bc1 * m[i] / (Math.Sqrt(v[i]) / Math.Sqrt(bc2) + 1e-8);
            }
        }
        var actual = p.to(ScalarType.Float64).data<double>().ToArray();
        double worst = Enumerable.Range(0, (int)n).Max(i => Math.Abs(actual[i] - x[i]) / (Math.Abs(x[i]) + 1e-3));
        Assert.True(worst < 1e-5, $"worst relative error {worst}");
    }

    [Fact]
    public void Step_OneScalar_MatchesHandComputedUpdate()
    {
        using var p = new Parameter(tensor(new[] { 1.0f }));
        p.grad = tensor(new[] { 0.5f });
        using var opt = new AdamW([p], new AdamWOptions(LearningRate: 0.1, WeightDecay: 0.01));
        opt.Step();
        // p = 1·(1 - 0.1·0.01) = 0.999; m = 0.05, v = 0.00025; m̂ = 0.5, sqrt(v̂) = 0.5 → p -= 0.1 · 0.5 / (0.5 + 1e-8)
        double expected = 0.999 - 0.1 * 0.5 / (0.5 + 1e-8);
        Assert.Equal(expected, p.item<float>(), 6);
        p.grad = tensor(new[] { -0.5f });
        opt.Step();
        // step 2: m = 0.9·0.05 - 0.05 = -0.005; v = 0.999·0.00025 + 0.00025 = 0.00049975
        double m = -0.005, v = 0.00049975, bc1 = 1 - 0.81, bc2 = 1 - 0.998001;
        expected = expected * 0.999 - 0.1 / bc1 * m / (Math.Sqrt(v) / Math.Sqrt(bc2) + 1e-8);
        Assert.Equal(expected, p.item<float>(), 6);
        Assert.Equal(2, opt.StepCount(0));
    }

    [Fact]
    public void Step_FiveSteps_BitIdenticalToTorchSharpAdamWWithSameArguments()
    {
        var gen = new Generator(7);
        using var a = new Parameter(randn(33, 17, generator: gen));
        using var b = new Parameter(a.detach().clone());
        var o = new AdamWOptions(LearningRate: 3e-3, Beta1: 0.8, Beta2: 0.95, WeightDecay: 0.05, Epsilon: 1e-6);
        using var ours = new AdamW([a], o);
        using var theirs = optim.AdamW([b], o.LearningRate, o.Beta1, o.Beta2, o.Epsilon, o.WeightDecay);
        for (int i = 0; i < 5; i++)
        {
            using var g = randn(33, 17, generator: gen);
            a.grad = g.clone();
            b.grad = g.clone();
            ours.Step();
            theirs.step();
            Assert.True(TensorAssert.Same(a, b), $"step {i + 1} differs");
        }
    }

    [Fact]
    public void Step_ParameterWithoutGrad_IsLeftAloneAndHasNoState()
    {
        using var p = new Parameter(ones(4));
        using var q = new Parameter(ones(4));
        q.grad = ones(4);
        using var opt = new AdamW([("p", p), ("q", q)], new AdamWOptions(LearningRate: 0.1));
        opt.Step();
        Assert.True(TensorAssert.Same(p, ones(4)));
        Assert.Equal(0, opt.StepCount(0));
        Assert.Equal(1, opt.StepCount(1));
        Assert.Equal(2 * 4 * 4, opt.StateBytes);
    }

    [Theory]
    [InlineData("sd15-tiny")]
    [InlineData("sd2-tiny-v")]
    [InlineData("sdxl-tiny")]
    public void Step_LoraTrainFixture_ClipThenAdamWMatchesTorch(string pipeline)
    {
        using var reference = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        using var lora = SafeTensorsFile.Open(Fixtures.Path(pipeline, "lora", "pytorch_lora_weights.safetensors"));
        const string gradPrefix = "lora_train.grad.";
        var names = reference.Tensors.Select(t => t.Name).Where(n => n.StartsWith(gradPrefix, StringComparison.Ordinal))
            .Select(n => n[gradPrefix.Length..]).ToList();
        Assert.NotEmpty(names);
        var parameters = new List<(string, Parameter)>();
        foreach (var name in names)
        {
            // peft name <module>.lora_A.default.weight = diffusers file key unet.<module>.lora.down.weight
            var key = "unet." + name.Replace(".lora_A.default.weight", ".lora.down.weight").Replace(".lora_B.default.weight", ".lora.up.weight");
            var p = new Parameter(lora.Read(key));
            p.grad = reference.Read(gradPrefix + name);
            parameters.Add((name, p));
        }
        // clip_grad_norm_(lora params, 1.0), then one AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, wd=1e-2) step.
        double total = GradClip.ClipGradNorm(parameters.Select(x => x.Item2), 1.0);
        using var expectedTotal = reference.Read("lora_train.grad_total_norm");
        Assert.Equal(expectedTotal.item<float>(), total, 1e-6 * total);
        using var opt = new AdamW(parameters, new AdamWOptions(LearningRate: 1e-3));
        opt.Step();
        foreach (var (name, p) in parameters)
        {
            using var expected = reference.Read("lora_train.param_after_step." + name);
            AssertStepMatches(name, p, expected);
        }
        foreach (var (_, p) in parameters) p.Dispose();
    }

    [Theory]
    [InlineData("sd15-tiny")]
    [InlineData("sdxl-tiny")]
    public void Step_DreamBoothFixture_RecordedUnetParamsMatchTorch(string pipeline)
    {
        using var reference = SafeTensorsFile.Open(Fixtures.Path(pipeline, "reference.safetensors"));
        using var unet = SafeTensorsFile.Open(Fixtures.Path(pipeline, "unet", "diffusion_pytorch_model.safetensors"));
        var section = JsonDocument.Parse(File.ReadAllText(Fixtures.Path(pipeline, "reference.json"))).RootElement
            .GetProperty("sections").GetProperty("dreambooth");
        var allNames = section.GetProperty("all_param_names").EnumerateArray().Select(e => e.GetString()!).ToList();
        var recorded = section.GetProperty("runs").GetProperty("w1_0").GetProperty("recorded_params")
            .EnumerateArray().Select(e => e.GetString()!).ToHashSet();
        using var norms = reference.Read("dreambooth.w1_0.grad_norms_all");
        var normValues = norms.data<float>().ToArray();

        // Every UNet parameter takes part in the clip: the recorded ones with their real gradient, the others as a
        // one-element stand-in whose gradient has the recorded norm (same per-parameter norms, same order).
        var all = new List<Parameter>();
        var tracked = new List<(string, Parameter)>();
        for (int i = 0; i < allNames.Count; i++)
        {
            Parameter p;
            if (recorded.Contains(allNames[i]))
            {
                p = new Parameter(unet.Read(allNames[i]));
                p.grad = reference.Read("dreambooth.w1_0.grad." + allNames[i]);
                tracked.Add((allNames[i], p));
            }
            else
            {
                p = new Parameter(zeros(1));
                p.grad = tensor(new[] { normValues[i] });
            }
            all.Add(p);
        }
        double total = GradClip.ClipGradNorm(all, 1.0);
        using var expectedTotal = reference.Read("dreambooth.w1_0.grad_total_norm");
        Assert.Equal(expectedTotal.item<float>(), total, 1e-6 * total);

        using var opt = new AdamW(tracked, new AdamWOptions(LearningRate: 1e-3));
        opt.Step();
        foreach (var (name, p) in tracked)
        {
            using var expected = reference.Read("dreambooth.w1_0.param_after_step." + name);
            AssertStepMatches(name, p, expected);
        }
        foreach (var p in all) p.Dispose();
    }

    // The first Adam step is ≈ lr·sign(g): elements whose gradient is comparable to eps are ill-conditioned (the
    // fixture README suggests an absolute 1e-5..1e-4 there); all others must agree to float32 rounding
    // (observed: ≤ 1.5e-8, one ulp, everywhere).
    private static void AssertStepMatches(string name, Parameter p, Tensor expected)
    {
        using var grad = p.grad!;
        using var diff = (p.detach() - expected).abs();
        using var wellConditioned = grad.abs() > 1e-6;
        float maxWell = diff.masked_select(wellConditioned).max().item<float>();
        float maxAll = diff.max().item<float>();
        Assert.True(maxWell <= 1e-6f, $"{name}: max |diff| {maxWell} where |g| > 1e-6");
        Assert.True(maxAll <= 1e-5f, $"{name}: max |diff| {maxAll}");
    }

    [Fact]
    public void SaveLoad_Resume_ContinuesBitIdentically()
    {
        var dir = Directory.CreateTempSubdirectory("adamw-");
        try
        {
            var gen = new Generator(3);
            var grads = Enumerable.Range(0, 5).Select(_ => (randn(8, 5, generator: gen), randn(3, generator: gen))).ToList();
            using var w = new Parameter(randn(8, 5, generator: gen));
            using var b = new Parameter(randn(3, generator: gen));
            var o = new AdamWOptions(LearningRate: 1e-2);
            using var straight = new AdamW([("w", w), ("b", b)], o);
            for (int i = 0; i < 3; i++) StepWith(straight, w, b, grads[i], lr: 1e-2 * (i + 1));
            var path = Path.Combine(dir.FullName, "optimizer.safetensors");
            straight.Save(path);
            using var w2 = new Parameter(w.detach().clone());
            using var b2 = new Parameter(b.detach().clone());
            for (int i = 3; i < 5; i++) StepWith(straight, w, b, grads[i], lr: 1e-2);

            using var resumed = new AdamW([("w", w2), ("b", b2)], new AdamWOptions());
            resumed.Load(path);
            Assert.Equal(3e-2, resumed.LearningRate);
            Assert.Equal(3, resumed.StepCount(0));
            for (int i = 3; i < 5; i++) StepWith(resumed, w2, b2, grads[i], lr: 1e-2);
            Assert.True(TensorAssert.Same(w, w2));
            Assert.True(TensorAssert.Same(b, b2));
        }
        finally { dir.Delete(true); }
    }

    private static void StepWith(IOptimizer opt, Parameter w, Parameter b, (Tensor W, Tensor B) g, double lr)
    {
        w.grad = g.W.clone();
        b.grad = g.B.clone();
        opt.LearningRate = lr;
        opt.Step();
    }

    [Fact]
    public void Load_StateOfOtherParameters_ThrowsNamingThem()
    {
        var dir = Directory.CreateTempSubdirectory("adamw-");
        try
        {
            using var w = new Parameter(ones(2, 2));
            w.grad = ones(2, 2);
            using var opt = new AdamW([("w", w)]);
            opt.Step();
            var path = Path.Combine(dir.FullName, "o.safetensors");
            opt.Save(path);

            using var other = new Parameter(ones(2, 2));
            using var renamed = new AdamW([("v", other)]);
            var e = Assert.Throws<DreamBoothException>(() => { renamed.Load(path); });
            Assert.Contains("w", e.Message);

            using var wide = new Parameter(ones(2, 3));
            using var reshaped = new AdamW([("w", wide)]);
            e = Assert.Throws<DreamBoothException>(() => { reshaped.Load(path); });
            Assert.Contains("shape", e.Message);
            Assert.Equal(0, reshaped.StepCount(0));

            using var eightBit = new AdamW8bit([("w", other)]);
            e = Assert.Throws<DreamBoothException>(() => { eightBit.Load(path); });
            Assert.Contains("AdamW", e.Message);
        }
        finally { dir.Delete(true); }
    }

    [Theory]
    [InlineData("steps", "{\"w\": \"two\"}")]
    [InlineData("options", "not json")]
    [InlineData("layout", "[1, 2]")]
    public void Load_CorruptMetadata_IsAUserErrorNamingTheKey(string key, string value)
    {
        var dir = Directory.CreateTempSubdirectory("adamw-");
        try
        {
            using var w = new Parameter(ones(2, 2));
            w.grad = ones(2, 2);
            using var opt = new AdamW([("w", w)]);
            opt.Step();
            var path = Path.Combine(dir.FullName, "o.safetensors");
            opt.Save(path);
            Dictionary<string, string> metadata;
            Dictionary<string, Tensor> tensors;
            using (var f = SafeTensorsFile.Open(path))
            {
                metadata = f.Metadata.ToDictionary();
                tensors = f.Tensors.ToDictionary(t => t.Name, t => f.Read(t.Name));
            }
            metadata[key] = value;
            SafeTensorsWriter.Write(path, tensors, metadata);

            var e = Assert.Throws<DreamBoothException>(() => opt.Load(path));
            Assert.Contains(key, e.Message);
        }
        finally { dir.Delete(true); }
    }
}
