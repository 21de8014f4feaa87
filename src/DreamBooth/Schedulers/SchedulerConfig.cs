// Mirrors diffusers src/diffusers/configuration_utils.py (ConfigMixin.from_config / extract_init_dict) for schedulers.
namespace DreamBooth.Schedulers;

using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using DreamBooth.Loading;

/// <summary>
/// The keys of <c>scheduler/scheduler_config.json</c> for every scheduler we implement. A null property means
/// "not set": the scheduler class then uses its own default, exactly like diffusers' <c>from_config</c>, which keeps the
/// keys present in the source config and gives every absent key the NEW class's default (SD 1.5's PNDM config has no
/// <c>timestep_spacing</c>, so DDIM gets "leading" and Euler gets "linspace").
/// A scheduler's <see cref="IScheduler.Config"/> is resolved (all of its keys set) and lists the keys it filled in with
/// defaults in <see cref="DefaultedKeys"/>, so swapping classes again only carries the explicit keys over.
/// </summary>
public sealed partial record SchedulerConfig
{
    [JsonPropertyName("_class_name")] public string? ClassName { get; init; }
    [JsonPropertyName("_diffusers_version")] public string? DiffusersVersion { get; init; }

    // Training noise schedule (all schedulers).
    public int? NumTrainTimesteps { get; init; }
    public double? BetaStart { get; init; }
    public double? BetaEnd { get; init; }
    public string? BetaSchedule { get; init; }                 // linear | scaled_linear | squaredcos_cap_v2 | sigmoid (DDPM)
    public IReadOnlyList<double>? TrainedBetas { get; init; }
    public bool? RescaleBetasZeroSnr { get; init; }

    // Sampling.
    public string? PredictionType { get; init; }               // epsilon | v_prediction | sample
    public string? TimestepSpacing { get; init; }              // leading | linspace | trailing
    public int? StepsOffset { get; init; }
    public bool? ClipSample { get; init; }
    public double? ClipSampleRange { get; init; }
    public bool? SetAlphaToOne { get; init; }
    public bool? Thresholding { get; init; }
    public double? DynamicThresholdingRatio { get; init; }
    public double? SampleMaxValue { get; init; }
    public string? VarianceType { get; init; }                 // DDPM: fixed_small ...; DPM: learned | learned_range
    public bool? SkipPrkSteps { get; init; }                   // PNDM

    // Sigma (k-diffusion style) schedulers.
    public string? InterpolationType { get; init; }            // linear | log_linear
    public bool? UseKarrasSigmas { get; init; }
    public double? SigmaMin { get; init; }
    public double? SigmaMax { get; init; }
    public string? TimestepType { get; init; }                 // discrete | continuous

    // DPM-Solver multistep.
    public int? SolverOrder { get; init; }
    public string? AlgorithmType { get; init; }                // dpmsolver++ | dpmsolver | sde-dpmsolver++ | sde-dpmsolver
    public string? SolverType { get; init; }                   // midpoint | heun
    public bool? LowerOrderFinal { get; init; }
    public bool? EulerAtFinal { get; init; }
    public bool? UseLuLambdas { get; init; }
    public string? FinalSigmasType { get; init; }              // zero | sigma_min
    public double? LambdaMinClipped { get; init; }

    /// <summary>Keys no implemented scheduler reads; kept so that a loaded config survives a save.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? OtherKeys { get; init; }

    /// <summary>Keys that were filled in from the class defaults (diffusers' <c>_use_default_values</c>).</summary>
    [JsonIgnore] public IReadOnlyList<string> DefaultedKeys { get; init; } = [];

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,   // lambda_min_clipped = -Infinity
        WriteIndented = true,
    };

    /// <summary>Loads <c>scheduler_config.json</c>. Python's json writes -inf as a bare <c>-Infinity</c>; that is accepted.</summary>
    public static SchedulerConfig Load(string path)
    {
        if (!File.Exists(path)) throw new DreamBoothException($"{path}: file not found.");
        return FromConfigFile(ConfigFile.Parse(path, QuoteNamedLiterals(DreamBooth.IO.BoundedFile.ReadAllText(path))));
    }

    public static SchedulerConfig FromConfigFile(ConfigFile file)
    {
        try
        {
            return file.Json.Deserialize<SchedulerConfig>(Json) ?? throw new DreamBoothException($"{file.Path}: empty config.");
        }
        catch (JsonException e)
        {
            var key = e.Path is { Length: > 2 } p ? p[2..] : "?";
            // The serializer names .NET types ("could not be converted to System"): say what the key takes instead.
            var property = typeof(SchedulerConfig).GetProperties().FirstOrDefault(q =>
                (q.GetCustomAttributes(typeof(System.Text.Json.Serialization.JsonPropertyNameAttribute), false) is [System.Text.Json.Serialization.JsonPropertyNameAttribute a]
                    ? a.Name : JsonNamingPolicy.SnakeCaseLower.ConvertName(q.Name)) == key);
            var type = property is null ? null : Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            var wanted = type == typeof(int) || type == typeof(long) ? "a whole number"
                : type == typeof(double) || type == typeof(float) ? "a number"
                : type == typeof(bool) ? "true or false"
                : type == typeof(string) ? "text" : "another type of value";
            var value = file.Json[key]?.ToJsonString() ?? "null";
            throw new DreamBoothException($"{file.Path}: '{key}' must be {wanted}, not {Text.Names.Short(value)}.");
        }
    }

    public static SchedulerConfig Parse(string json) =>
        JsonSerializer.Deserialize<SchedulerConfig>(QuoteNamedLiterals(json), Json) ?? throw new DreamBoothException("empty scheduler config.");

    /// <summary>The config as diffusers' <c>scheduler.config</c> dict (set keys only).</summary>
    public JsonObject ToJsonObject() => (JsonObject)JsonSerializer.SerializeToNode(this, Json)!;

    public string ToJsonString() => ToJsonObject().ToJsonString(Json);

    /// <summary>
    /// scheduler_config.json as diffusers' <c>save_pretrained</c> writes a resolved scheduler: every key set, the
    /// unset <c>trained_betas</c> as null, keys sorted, indent 2, <c>_diffusers_version</c> of the diffusers release mirrored.
    /// </summary>
    public string ToSavedJson()
    {
        var node = ToJsonObject();
        node["_diffusers_version"] = "0.27.2";
        if (!node.ContainsKey("trained_betas")) node["trained_betas"] = null;
        var sorted = new JsonObject(node.OrderBy(kv => kv.Key, StringComparer.Ordinal)
                                        .Select(kv => KeyValuePair.Create(kv.Key, kv.Value?.DeepClone())));
        return sorted.ToJsonString(Json) + "\n";
    }

    /// <summary>
    /// <c>Cls.from_config(source)</c>: the source's explicit keys (not its defaulted ones, not private "_" keys) over
    /// <paramref name="classDefaults"/>, which lists exactly the keys of the class's <c>__init__</c>.
    /// Source keys the class does not know stay in the result, as diffusers keeps them in the config.
    /// </summary>
    public static SchedulerConfig Resolve(SchedulerConfig? source, string className, SchedulerConfig classDefaults)
    {
        var explicitKeys = new JsonObject();
        if (source is not null)
        {
            foreach (var (key, value) in source.ToJsonObject())
            {
                if (key.StartsWith('_') || source.DefaultedKeys.Contains(key)) continue;
                explicitKeys[key] = value?.DeepClone();
            }
        }

        var merged = classDefaults.ToJsonObject();
        merged.Remove("_class_name");
        var defaulted = merged.Select(kv => kv.Key).Where(k => !explicitKeys.ContainsKey(k)).ToList();
        foreach (var (key, value) in explicitKeys) merged[key] = value?.DeepClone();
        merged["_class_name"] = className;
        if (source?.DiffusersVersion is string version) merged["_diffusers_version"] = version;

        var resolved = merged.Deserialize<SchedulerConfig>(Json) ?? throw new InvalidOperationException("config round trip failed");
        return resolved with { DefaultedKeys = defaulted };
    }

    // Quotes bare NaN / Infinity / -Infinity tokens outside strings so System.Text.Json can read them as numbers.
    private static string QuoteNamedLiterals(string json) =>
        NamedLiteral().Replace(json, m => m.Groups["str"].Success ? m.Value : $"\"{m.Groups["lit"].Value}\"");

    [GeneratedRegex("""(?<str>"(?:[^"\\]|\\.)*")|(?<lit>-?Infinity|NaN)""")]
    private static partial Regex NamedLiteral();
}
