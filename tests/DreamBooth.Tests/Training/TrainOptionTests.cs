namespace DreamBooth.Tests.Training;

using System.Reflection;
using System.Text.RegularExpressions;
using DreamBooth.Training;
using static DreamBooth.Tests.Training.TrainOptionSamples;

/// <summary>The option declarations of <see cref="TrainOptions"/>: every case is generated from them, so a new option is covered.</summary>
public sealed class TrainOptionTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("train-option").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void Declarations_EveryPropertyIsAnOptionWithADiffusersKey()
    {
        var settable = typeof(TrainOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).Select(p => p.Name);
        Assert.Equal(settable.Order(), TrainOption.All.Select(o => o.PropertyName).Order());
        Assert.Equal(72, TrainOption.All.Count);
        Assert.Equal(TrainOption.All.Count, TrainOption.All.Select(o => o.Key).Distinct().Count());
        foreach (var o in TrainOption.All)
        {
            Assert.Matches(new Regex("^[a-z][a-z0-9]*(_[a-z0-9]+)*$"), o.Key);
            Assert.Equal("--" + o.Key.Replace('_', '-'), o.Flag);
            Assert.True(o.IsSwitch == (o.ValueName is null), $"{o.Key}: a switch has no value placeholder, other options have one");
            Assert.Same(o, TrainOption.Find(o.Key.Replace('_', '-')));
        }
    }

    [Theory]
    [MemberData(nameof(Keys), MemberType = typeof(TrainOptionSamples))]
    public void LoadConfig_SnakeKeyInJsonAndKebabKeyInYaml_ReachTheOption(string key)
    {
        var o = Option(key);
        var json = TrainOptions.LoadConfig(WriteConfig(dir, "train.json", (key, Sample(o))));
        var yaml = TrainOptions.LoadConfig(WriteConfig(dir, "train.yaml", (key.Replace('_', '-'), Sample(o))));
        Assert.True(Same(Sample(o), o.Get(json)), $"{key} from JSON: {TrainOption.Format(o.Get(json))}");
        Assert.True(Same(Sample(o), o.Get(yaml)), $"{key} from YAML: {TrainOption.Format(o.Get(yaml))}");
        Assert.All(TrainOption.All.Where(other => other != o), other => Assert.True(Same(other.Default, other.Get(json)), other.Key));
    }

    [Theory]
    [MemberData(nameof(Keys), MemberType = typeof(TrainOptionSamples))]
    public void LoadConfig_ValueOfTheWrongKind_NamesTheKeyAndTheKind(string key)
    {
        var path = Path.Combine(dir, "train.json");
        File.WriteAllText(path, $$"""{ "{{key}}": { "nested": 1 } }""");
        var e = Assert.Throws<DreamBoothException>(() => TrainOptions.LoadConfig(path));
        Assert.Equal($"{path}: '{key}' must be {Option(key).Expected}.", e.Message);
    }

    [Theory]
    [MemberData(nameof(Keys), MemberType = typeof(TrainOptionSamples))]
    public void HelpText_StatesTheDefaultTheOptionHas(string key)
    {
        var o = Option(key);
        if (o.Default is not (null or false)) Assert.EndsWith($" (default {TrainOption.Format(o.Default)})", o.HelpText);
        else if (o.Default is false) Assert.DoesNotContain("(default", o.HelpText);
    }

    [Theory]
    [InlineData("learning_rate", nameof(TrainOptions.EffectiveLearningRate))]
    [InlineData("max_train_steps", nameof(TrainOptions.EffectiveMaxTrainSteps))]
    public void HelpText_MethodDefaults_ComeFromTheEffectiveValue(string key, string effective)
    {
        var help = Option(key).HelpText;
        foreach (var method in Enum.GetValues<TrainMethod>())
        {
            var value = typeof(TrainOptions).GetProperty(effective)!.GetValue(new TrainOptions { Method = method });
            Assert.Contains($"{TrainOption.Format(value)} for {TrainOption.Format(method)}", help);
        }
    }

    private TrainOptions Valid() => new()
    {
        InstanceDataDir = dir,
        InstancePrompt = "a photo of sks dog",
        WithPriorPreservation = true,
        ClassDataDir = Path.Combine(dir, "class"),
        ClassPrompt = "a photo of dog",
        ValidationPrompt = "a photo of sks dog",
        OutputDir = Path.Combine(dir, "out"),
    };

    [Fact]
    public void Validated_EverySampleValue_Passes()
    {
        // The samples the binding tests use are valid values, and Valid() needs nothing else but full fine-tuning,
        // the method every option works with (use_ema is refused with LoRA).
        foreach (var o in TrainOption.All.Where(o => o.BaseType != typeof(string) || o.Choices.Count > 0))
            o.With(Valid() with { Method = TrainMethod.Full }, Sample(o)).Validated();
    }

    [Fact]
    public void Validated_UseEmaWithLora_RefusedInOneLine()
    {
        var e = Assert.Throws<TrainOptionException>(() => (Valid() with { UseEma = true }).Validated());
        Assert.Equal(["use_ema", "method"], e.Keys);
        Assert.Equal("--use-ema works with full fine-tuning only (--method full); diffusers' LoRA scripts keep no average of the adapters.",
                     e.Describe(k => TrainOption.Find(k)!.Flag));
        (Valid() with { UseEma = true, Method = TrainMethod.Full }).Validated();
    }

    [Fact]
    public void Validated_ReportTo_TensorBoardOrNone()
    {
        var e = Assert.Throws<TrainOptionException>(() => (Valid() with { ReportTo = "wandb" }).Validated());
        Assert.Equal("report_to must be none or tensorboard, not 'wandb'.", e.Message);
        var o = Valid() with { ReportTo = "tensorboard" };
        Assert.Equal(Path.Combine(o.OutputDir, "logs", "dreambooth-lora"), o.TensorBoardDir);
        Assert.Equal("/abs/tb/dreambooth", (o with { LoggingDir = "/abs/tb", Method = TrainMethod.Full }).TensorBoardDir);
        Directory.CreateDirectory(o.OutputDir);
        File.WriteAllText(Path.Combine(o.OutputDir, "logs"), "");
        var file = Assert.Throws<TrainOptionException>(() => o.Validated());
        Assert.Equal(["logging_dir"], file.Keys);
        Assert.EndsWith("logs: is a file, not a folder.", file.Message);
    }

    [Theory]
    [MemberData(nameof(Keys), MemberType = typeof(TrainOptionSamples))]
    public void Validated_Rejection_NamesTheOptionByKey(string key)
    {
        var o = Option(key);
        object? bad = o.BaseType == typeof(int) ? -1 : o.BaseType == typeof(double) ? double.NaN
            : o.BaseType == typeof(string) ? "" : o.BaseType == typeof(IReadOnlyList<string>) ? Array.Empty<string>() : null;
        if (bad is null) return;  // switches, the seed and the method have no invalid values
        try
        {
            o.With(Valid(), bad).Validated();
        }
        catch (TrainOptionException e)
        {
            Assert.Equal(key, e.Keys[0]);
            Assert.DoesNotContain("--", e.Message);
            Assert.Contains(key, e.Message);
            var flags = e.Keys.Aggregate(e.Message, (message, k) => message.Replace(k, TrainOption.Find(k)!.Flag));
            Assert.Equal(flags, e.Describe(k => TrainOption.Find(k)!.Flag));
        }
    }

    [Theory]
    [InlineData("num_class_images", 0, "num_class_images must be at least 1, not 0.")]
    [InlineData("prior_loss_weight", -1.0, "prior_loss_weight must be 0 or more, not -1.")]
    [InlineData("resolution", 12, "resolution must be a positive multiple of 8, not 12.")]
    [InlineData("learning_rate", 0.0, "learning_rate must be positive, not 0.")]
    [InlineData("adam_beta2", 1.0, "adam_beta2 must be in [0, 1), not 1.")]
    [InlineData("mixed_precision", "fp8", "mixed_precision must be no, fp16 or bf16, not 'fp8'.")]
    [InlineData("class_prompt", "", "with_prior_preservation needs class_prompt (e.g. \"a photo of dog\").")]
    public void Validated_DeclaredChecks_ReadableMessages(string key, object value, string expected)
    {
        var e = Assert.Throws<TrainOptionException>(() => Option(key).With(Valid(), value).Validated());
        Assert.Equal(expected, e.Message);
    }

    [Fact]
    public void Validated_PiecewiseConstantScheduler_NamesTheKey()
    {
        var e = Assert.Throws<TrainOptionException>(() => (Valid() with { LrScheduler = "piecewise_constant" }).Validated());
        Assert.Equal(new[] { "lr_scheduler" }, e.Keys);
        Assert.Equal("lr_scheduler must be constant, constant_with_warmup, linear, cosine, cosine_with_restarts or polynomial, not 'piecewise_constant'.", e.Message);
    }

    [Fact]
    public void LrSchedulerChoices_AreEverySchedulerTrainingCanBuild()
    {
        var choices = Option("lr_scheduler").Choices;
        Assert.Equal(LrSchedule.Names.Where(n => n != "piecewise_constant").Order(), choices.Order());
        foreach (var name in choices) Assert.Equal(name, new LrSchedule(name, 2, 10, learningRate: 1e-4).Name);
    }

    [Theory]
    [InlineData("lr_scheduler", "Cosine-With-Restarts", "cosine_with_restarts")]
    [InlineData("mixed_precision", "BF16", "bf16")]
    public void Validated_Choice_ReturnedInItsCanonicalSpelling(string key, string given, string canonical) =>
        Assert.Equal(canonical, Option(key).Get(Option(key).With(Valid(), given).Validated()));

    [Fact]
    public void TrainOptionException_Describe_RenamesKeysAndKeepsBracesOfValues()
    {
        var e = new TrainOptionException("{0} " + TrainOptionException.Literal("out{1}") + ": needs {1}.", "output_dir", "seed");
        Assert.Equal("output_dir out{1}: needs seed.", e.Message);
        Assert.Equal("--output-dir out{1}: needs --seed.", e.Describe(k => TrainOption.Find(k)!.Flag));
    }

    [Fact]
    public void Parse_FlagTexts()
    {
        Assert.Equal(TrainMethod.Full, Option("method").Parse("FULL"));
        Assert.Equal(18446744073709551615UL, Option("seed").Parse("-1"));   // Rng.ParseSeed: torch's two's complement
        Assert.Equal(new[] { "to_q", "to_v" }, Option("lora_target_modules").Parse("to_q, to_v,"));
        var e = Assert.Throws<TrainOptionException>(() => Option("method").Parse("lorra"));
        Assert.Equal("method must be lora or full, not 'lorra'.", e.Message);
    }
}
