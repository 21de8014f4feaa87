namespace DreamBooth.Training;

using System.Text.Json;
using System.Text.Json.Serialization;
using YamlDotNet.Serialization;

public enum TrainMethod
{
    Lora,
    Full,
}

/// <summary>
/// Every option of `dreambooth train`, named as diffusers' train_dreambooth.py / train_dreambooth_lora.py flags
/// (snake_case in config files, kebab case on the command line). Null means "the method's default" (see <see cref="Resolve"/>).
/// </summary>
public sealed record TrainOptions
{
    [JsonPropertyName("method")] public TrainMethod Method { get; init; } = TrainMethod.Lora;
    [JsonPropertyName("pretrained_model_name_or_path")] public string? PretrainedModelNameOrPath { get; init; }
    [JsonPropertyName("variant")] public string? Variant { get; init; }
    [JsonPropertyName("instance_data_dir")] public string? InstanceDataDir { get; init; }
    [JsonPropertyName("instance_prompt")] public string? InstancePrompt { get; init; }
    [JsonPropertyName("with_prior_preservation")] public bool WithPriorPreservation { get; init; }
    [JsonPropertyName("class_data_dir")] public string? ClassDataDir { get; init; }
    [JsonPropertyName("class_prompt")] public string? ClassPrompt { get; init; }
    [JsonPropertyName("num_class_images")] public int NumClassImages { get; init; } = 100;
    [JsonPropertyName("prior_loss_weight")] public double PriorLossWeight { get; init; } = 0.5;
    [JsonPropertyName("sample_batch_size")] public int SampleBatchSize { get; init; } = 4;
    [JsonPropertyName("class_inference_steps")] public int ClassInferenceSteps { get; init; } = 50;
    /// <summary>Training resolution; null = the model's native size (512 for SD 1.5).</summary>
    [JsonPropertyName("resolution")] public int? Resolution { get; init; }
    [JsonPropertyName("center_crop")] public bool CenterCrop { get; init; }
    [JsonPropertyName("random_flip")] public bool RandomFlip { get; init; }
    [JsonPropertyName("train_text_encoder")] public bool TrainTextEncoder { get; init; }
    [JsonPropertyName("train_batch_size")] public int TrainBatchSize { get; init; } = 2;
    [JsonPropertyName("gradient_accumulation_steps")] public int GradientAccumulationSteps { get; init; } = 2;
    [JsonPropertyName("gradient_checkpointing")] public bool GradientCheckpointing { get; init; }
    /// <summary>null: 5e-6 (full, the tutorial's) or 1e-4 (LoRA).</summary>
    [JsonPropertyName("learning_rate")] public double? LearningRate { get; init; }
    [JsonPropertyName("lr_scheduler")] public string LrScheduler { get; init; } = "constant";
    [JsonPropertyName("lr_warmup_steps")] public int LrWarmupSteps { get; init; }
    [JsonPropertyName("lr_num_cycles")] public int LrNumCycles { get; init; } = 1;
    [JsonPropertyName("lr_power")] public double LrPower { get; init; } = 1.0;
    /// <summary>null: 300 (full) or 500 (LoRA).</summary>
    [JsonPropertyName("max_train_steps")] public int? MaxTrainSteps { get; init; }
    [JsonPropertyName("checkpointing_steps")] public int CheckpointingSteps { get; init; } = 500;
    [JsonPropertyName("checkpoints_total_limit")] public int? CheckpointsTotalLimit { get; init; }
    /// <summary>"latest" or a checkpoint folder.</summary>
    [JsonPropertyName("resume_from_checkpoint")] public string? ResumeFromCheckpoint { get; init; }
    [JsonPropertyName("use_8bit_adam")] public bool Use8bitAdam { get; init; }
    [JsonPropertyName("adam_beta1")] public double AdamBeta1 { get; init; } = 0.9;
    [JsonPropertyName("adam_beta2")] public double AdamBeta2 { get; init; } = 0.999;
    [JsonPropertyName("adam_weight_decay")] public double AdamWeightDecay { get; init; } = 1e-2;
    [JsonPropertyName("adam_epsilon")] public double AdamEpsilon { get; init; } = 1e-8;
    [JsonPropertyName("max_grad_norm")] public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>"no", "fp16" or "bf16": frozen weights in that dtype, trainable weights in fp32.</summary>
    [JsonPropertyName("mixed_precision")] public string MixedPrecision { get; init; } = "no";
    [JsonPropertyName("seed")] public ulong? Seed { get; init; }
    [JsonPropertyName("output_dir")] public string OutputDir { get; init; } = "dreambooth-model";
    [JsonPropertyName("validation_prompt")] public string? ValidationPrompt { get; init; }
    [JsonPropertyName("validation_steps")] public int ValidationSteps { get; init; } = 100;
    [JsonPropertyName("num_validation_images")] public int NumValidationImages { get; init; } = 4;
    [JsonPropertyName("validation_inference_steps")] public int ValidationInferenceSteps { get; init; } = 25;
    [JsonPropertyName("rank")] public int Rank { get; init; } = 4;
    /// <summary>null: equal to the rank (scale 1), as diffusers' LoRA scripts.</summary>
    [JsonPropertyName("lora_alpha")] public double? LoraAlpha { get; init; }
    [JsonPropertyName("lora_dropout")] public double LoraDropout { get; init; }
    [JsonPropertyName("lora_target_modules")] public IReadOnlyList<string> LoraTargetModules { get; init; } = ["to_q", "to_k", "to_v", "to_out.0"];
    /// <summary>peft's init_lora_weights: "gaussian" (diffusers' DreamBooth LoRA scripts) or "default" (kaiming-uniform).</summary>
    [JsonPropertyName("init_lora_weights")] public string InitLoraWeights { get; init; } = "gaussian";
    /// <summary>UNet attention kernel: "sdpa" (libtorch's fused kernel, lean) or "math" (diffusers' AttnProcessor: the
    /// reference runs' arithmetic, more memory at full size).</summary>
    [JsonPropertyName("attention")] public string Attention { get; init; } = "sdpa";
    /// <summary>Take image files sorted by name instead of in directory order (the scripts' Path.iterdir()).</summary>
    [JsonPropertyName("sort_files")] public bool SortFiles { get; init; }
    [JsonPropertyName("save_kohya")] public bool SaveKohya { get; init; }
    [JsonPropertyName("cache_latents")] public bool CacheLatents { get; init; }
    /// <summary>Skip unreadable instance/class images with a warning instead of stopping before training.</summary>
    [JsonPropertyName("skip_bad_images")] public bool SkipBadImages { get; init; }

    public double EffectiveLearningRate => LearningRate ?? (Method == TrainMethod.Full ? 5e-6 : 1e-4);

    public int EffectiveMaxTrainSteps => MaxTrainSteps ?? (Method == TrainMethod.Full ? 300 : 500);

    public double EffectiveLoraAlpha => LoraAlpha ?? Rank;

    private static bool SameFolder(string a, string b)
    {
        static string Real(string p)
        {
            var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(p));
            try
            {
                return Directory.Exists(full) ? Directory.ResolveLinkTarget(full, true)?.FullName ?? full : full;
            }
            catch (IOException)
            {
                return full;
            }
        }
        return string.Equals(Real(a), Real(b), OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Checks the options (paths, ranges, combinations); throws one readable error.</summary>
    public TrainOptions Validated()
    {
        void Require(bool ok, string message)
        {
            if (!ok) throw new DreamBoothException(message);
        }
        Require(!string.IsNullOrWhiteSpace(InstanceDataDir), "--instance-data-dir is required.");
        Require(!File.Exists(InstanceDataDir), $"--instance-data-dir {InstanceDataDir}: is a file; give the folder that holds the photos.");
        Require(Directory.Exists(InstanceDataDir), $"--instance-data-dir {InstanceDataDir}: folder not found.");
        Require(!string.IsNullOrWhiteSpace(InstancePrompt), "--instance-prompt is required (e.g. \"a photo of sks dog\").");
        if (WithPriorPreservation)
        {
            Require(!string.IsNullOrWhiteSpace(ClassDataDir), "--with-prior-preservation needs --class-data-dir.");
            Require(!File.Exists(ClassDataDir), $"--class-data-dir {ClassDataDir}: is a file, not a folder.");
            Require(!string.IsNullOrWhiteSpace(ClassPrompt), "--with-prior-preservation needs --class-prompt (e.g. \"a photo of dog\").");
            Require(NumClassImages >= 1, "--num-class-images must be at least 1.");
            Require(PriorLossWeight >= 0 && double.IsFinite(PriorLossWeight), $"--prior-loss-weight must be 0 or more, not {PriorLossWeight}.");
            Require(ClassInferenceSteps >= 1, "class_inference_steps must be at least 1.");
        }
        Require(!File.Exists(OutputDir), $"--output-dir {OutputDir}: is a file, not a folder.");
        // Shared folders lose data silently: loss.png and samples would become training photos, generated class
        // images would mix with the subject's.
        Require(!SameFolder(OutputDir, InstanceDataDir!), $"--output-dir {OutputDir}: is the instance folder; training would write its outputs among the photos. Choose another folder.");
        if (WithPriorPreservation)
        {
            Require(!SameFolder(ClassDataDir!, InstanceDataDir!), $"--class-data-dir {ClassDataDir}: is the instance folder; generated class images would mix with the photos. Choose another folder.");
            Require(!SameFolder(OutputDir, ClassDataDir!), $"--output-dir {OutputDir}: is the class-image folder; training outputs would become class images. Choose another folder.");
        }
        Require(TrainBatchSize >= 1, "--train-batch-size must be at least 1.");
        Require(SampleBatchSize >= 1, "--sample-batch-size must be at least 1.");
        Require(GradientAccumulationSteps >= 1, "--gradient-accumulation-steps must be at least 1.");
        Require(EffectiveMaxTrainSteps >= 1, "--max-train-steps must be at least 1.");
        Require(CheckpointingSteps >= 1, "--checkpointing-steps must be at least 1.");
        Require(CheckpointsTotalLimit is null or >= 1, "--checkpoints-total-limit must be at least 1.");
        Require(Resolution is null or >= 8 && (Resolution ?? 8) % 8 == 0, "--resolution must be a positive multiple of 8.");
        Require(EffectiveLearningRate > 0, "--learning-rate must be positive.");
        Require(MaxGradNorm > 0, "--max-grad-norm must be positive.");
        Require(Rank >= 1, "--rank must be at least 1.");
        Require(LoraAlpha is null || LoraAlpha > 0 && double.IsFinite(LoraAlpha.Value), $"--lora-alpha must be positive, not {LoraAlpha}.");
        Require(Attention is "sdpa" or "math", $"--attention must be sdpa or math, not '{Attention}'.");
        Require(InitLoraWeights is "gaussian" or "default", $"--init-lora-weights must be gaussian or default, not '{InitLoraWeights}'.");
        Require(MixedPrecision is "no" or "fp16" or "bf16", $"--mixed-precision must be no, fp16 or bf16, not '{MixedPrecision}'.");
        Require(ValidationSteps >= 1, "--validation-steps must be at least 1.");
        if (ValidationPrompt is not null)
        {
            Require(NumValidationImages >= 1, "--num-validation-images must be at least 1 (leave out --validation-prompt for no validation).");
            Require(ValidationInferenceSteps >= 1, "validation_inference_steps must be at least 1.");
        }
        LrSchedule.Parse(LrScheduler);
        return this;
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        AllowTrailingCommas = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
    };

    /// <summary>Reads a JSON or YAML config holding the same keys as the flags (snake_case or kebab-case).</summary>
    public static TrainOptions LoadConfig(string path)
    {
        if (!File.Exists(path)) throw new DreamBoothException($"{path}: config file not found.");
        var text = DreamBooth.IO.BoundedFile.ReadAllText(path);
        string json;
        if (path.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            json = text;
        else
        {
            try
            {
                var yaml = new DeserializerBuilder().Build().Deserialize<object?>(text);
                json = YamlToJson(yaml, path)?.ToJsonString() ?? "{}";
            }
            catch (YamlDotNet.Core.YamlException e)
            {
                throw new DreamBoothException($"{path}: invalid YAML at line {e.Start.Line}: {e.Message}");
            }
        }
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
            var normalized = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new DreamBoothException($"{path}: expected a mapping of option names to values.");
            foreach (var p in doc.RootElement.EnumerateObject()) normalized[p.Name.Replace('-', '_')] = p.Value;
            var unknown = normalized.Keys.FirstOrDefault(k => !ConfigKeys.Contains(k));
            if (unknown is not null) throw new DreamBoothException($"{path}: unknown option '{unknown}'{Text.NameSuggestion.Hint(unknown, ConfigKeys)}.");
            return JsonSerializer.Deserialize<TrainOptions>(JsonSerializer.Serialize(normalized), JsonOptions)
                   ?? throw new DreamBoothException($"{path}: empty config.");
        }
        catch (JsonException e)
        {
            // The serializer's message names .NET types; name the key and the kind of value it takes instead.
            var key = e.Path?.TrimStart('$', '.');
            var property = typeof(TrainOptions).GetProperties().FirstOrDefault(p =>
                p.GetCustomAttributes(typeof(JsonPropertyNameAttribute), false) is [JsonPropertyNameAttribute a] && a.Name == key);
            if (property is null) throw new DreamBoothException($"{path}: {e.Message.Split(". Path")[0]}");
            throw new DreamBoothException($"{path}: '{key}' must be {Expected(property.PropertyType)}.");
        }
    }

    private static readonly HashSet<string> ConfigKeys = typeof(TrainOptions).GetProperties()
        .SelectMany(p => p.GetCustomAttributes(typeof(JsonPropertyNameAttribute), false).Cast<JsonPropertyNameAttribute>())
        .Select(a => a.Name).ToHashSet(StringComparer.Ordinal);

    private static string Expected(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(int) || type == typeof(ulong)) return "a whole number";
        if (type == typeof(double)) return "a number";
        if (type == typeof(bool)) return "true or false";
        if (type == typeof(TrainMethod)) return "lora or full";
        if (type == typeof(string)) return "text";
        return "a list of names";
    }

    // YAML aliases make a graph: one that refers to itself recursed until the stack overflowed, and nested ones
    // ("billion laughs") expand exponentially. A config is a flat mapping, so depth and value count are capped.
    private const int MaxYamlDepth = 16, MaxYamlValues = 10_000;

    private static System.Text.Json.Nodes.JsonNode? YamlToJson(object? root, string path)
    {
        int values = 0;
        System.Text.Json.Nodes.JsonNode? Convert(object? value, int depth)
        {
            if (depth > MaxYamlDepth || ++values > MaxYamlValues)
                throw new DreamBoothException($"{path}: the YAML expands to more than {MaxYamlDepth} levels or {MaxYamlValues:N0} values (a self-referencing or nested alias?); a config is a mapping of options to values.");
            return value switch
            {
                IDictionary<object, object?> map => new System.Text.Json.Nodes.JsonObject(
                    map.Select(kv => KeyValuePair.Create(System.Convert.ToString(kv.Key, System.Globalization.CultureInfo.InvariantCulture)!, Convert(kv.Value, depth + 1)))),
                IList<object?> list => new System.Text.Json.Nodes.JsonArray(list.Select(v => Convert(v, depth + 1)).ToArray()),
                _ => YamlScalar(value),
            };
        }
        return Convert(root, 0);
    }

    // YAML scalars arrive as strings: give them JSON types the way YAML 1.2's core schema reads them.
    private static System.Text.Json.Nodes.JsonNode? YamlScalar(object? value) => value switch
    {
        null => null,
        string s when s is "~" or "null" or "Null" or "NULL" => null,
        string s when s is "true" or "True" or "TRUE" => System.Text.Json.Nodes.JsonValue.Create(true),
        string s when s is "false" or "False" or "FALSE" => System.Text.Json.Nodes.JsonValue.Create(false),
        string s when long.TryParse(s, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var l) =>
            System.Text.Json.Nodes.JsonValue.Create(l),
        string s when double.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d)
                        && double.IsFinite(d) =>   // .NET also parses "nan"/"Infinity", which JSON cannot hold: keep them text
            System.Text.Json.Nodes.JsonValue.Create(d),
        _ => System.Text.Json.Nodes.JsonValue.Create(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)),
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);
}
