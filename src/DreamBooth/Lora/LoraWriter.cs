// Writes an adapter as diffusers' pytorch_lora_weights.safetensors (StableDiffusion[XL]Pipeline.save_lora_weights of
// convert_state_dict_to_diffusers(get_peft_model_state_dict(...))) or in kohya/A1111 naming.
namespace DreamBooth.Lora;

using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using DreamBooth.IO;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

public enum LoraFileFormat
{
    /// <summary><c>unet.&lt;module&gt;.lora.down.weight</c> / <c>.lora.up.weight</c>; <c>text_encoder[_2].&lt;module&gt;.lora_linear_layer.down.weight</c> for the text encoders' attention projections.</summary>
    Diffusers,

    /// <summary><c>lora_unet_&lt;module with _&gt;.lora_down.weight</c> / <c>.lora_up.weight</c> / <c>.alpha</c> (int64 scalar),
    /// <c>lora_te_</c> (SD) or <c>lora_te1_</c>/<c>lora_te2_</c> (SDXL) for text encoders.</summary>
    Kohya,
}

/// <summary>Saves trained LoRA adapters in diffusers' or kohya's naming.</summary>
public static class LoraWriter
{
    /// <summary>The file name diffusers' <c>load_lora_weights(dir)</c> looks for.</summary>
    public const string DiffusersFileName = "pytorch_lora_weights.safetensors";

    /// <summary>
    /// Writes adapter <paramref name="adapterName"/> of the given models. The true alpha survives in both formats:
    /// kohya stores it per module (<c>.alpha</c>, scale = alpha / rank); the diffusers format has no place for it, so it
    /// goes into the header's <c>lora_adapter_metadata</c> (peft LoraConfig fields per component, as diffusers ≥ 0.34
    /// writes and reads them). diffusers 0.27 ignores that metadata and loads the file with scale 1.0.
    /// </summary>
    public static void Write(string path, LoraTargets models, string adapterName = "default",
                             LoraFileFormat format = LoraFileFormat.Diffusers)
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { ["format"] = "pt" };
        var config = new JsonObject();
        bool twoEncoders = models.TextEncoder2 is not null;
        var allSettings = new List<LoraAdapterSettings>();

        foreach (var component in new[] { LoraComponent.Unet, LoraComponent.TextEncoder, LoraComponent.TextEncoder2 })
        {
            if (models[component] is not nn.Module model) continue;
            var layers = LoraModel.Layers(model).Where(l => l.Layer.Adapters.Contains(adapterName)).ToList();
            if (layers.Count == 0) continue;
            foreach (var (module, layer) in layers)
            {
                var s = layer.Settings(adapterName);
                allSettings.Add(s);
                var (a, b) = (layer.A(adapterName).detach(), layer.B(adapterName).detach());
                if (format == LoraFileFormat.Diffusers)
                {
                    var prefix = $"{DiffusersPrefix(component)}.{module}.{DiffusersLoraName(module)}";
                    tensors[$"{prefix}.down.weight"] = a;
                    tensors[$"{prefix}.up.weight"] = b;
                }
                else
                {
                    var prefix = $"{KohyaPrefix(component, twoEncoders)}{module.Replace('.', '_')}";
                    tensors[$"{prefix}.lora_down.weight"] = a;
                    tensors[$"{prefix}.lora_up.weight"] = b;
                    // kohya has no rsLoRA: store the alpha that gives the same scale under alpha / rank.
                    double alpha = s.UseRsLora ? s.Alpha * Math.Sqrt(s.Rank) : s.Alpha;
                    tensors[$"{prefix}.alpha"] = alpha == Math.Round(alpha) ? tensor((long)alpha) : tensor((float)alpha);
                }
            }
            AddPeftConfig(config, DiffusersPrefix(component) + ".", model, layers.Select(l => (l.Path, l.Layer.Settings(adapterName))).ToList());
        }
        if (tensors.Count == 0) throw new DreamBoothException($"No LoRA adapter named '{adapterName}' in the given models; nothing to write.");

        if (format == LoraFileFormat.Diffusers)
        {
            metadata[AlphaSources.MetadataKey] = config.ToJsonString(JsonText.Indented);
        }
        else if (allSettings.Select(s => (s.Rank, s.Alpha)).Distinct().Count() == 1)
        {
            // What kohya's sd-scripts record; tools show these as the network's dim / alpha.
            metadata["ss_network_module"] = "networks.lora";
            metadata["ss_network_dim"] = allSettings[0].Rank.ToString(CultureInfo.InvariantCulture);
            metadata["ss_network_alpha"] = allSettings[0].Alpha.ToString(CultureInfo.InvariantCulture);
        }
        SafeTensorsWriter.Write(path, tensors, metadata);
    }

    private static string DiffusersPrefix(LoraComponent c) => c switch
    {
        LoraComponent.Unet => "unet",
        LoraComponent.TextEncoder => "text_encoder",
        _ => "text_encoder_2",
    };

    // diffusers' convert_state_dict_to_diffusers: CLIP attention projections become "lora_linear_layer", the rest "lora".
    private static string DiffusersLoraName(string module) =>
        module.Split('.')[^1] is "q_proj" or "k_proj" or "v_proj" or "out_proj" ? "lora_linear_layer" : "lora";

    private static string KohyaPrefix(LoraComponent c, bool twoEncoders) => c switch
    {
        LoraComponent.Unet => "lora_unet_",
        LoraComponent.TextEncoder => twoEncoders ? "lora_te1_" : "lora_te_",
        _ => "lora_te2_",
    };

    /// <summary>
    /// peft LoraConfig fields for one component: the most common r / lora_alpha, rank_pattern / alpha_pattern (keyed by
    /// full module path) for the rest, and target_modules as leaf names when they select exactly the adapted modules
    /// (else full paths).
    /// </summary>
    private static void AddPeftConfig(JsonObject config, string prefix, nn.Module model, List<(string Path, LoraAdapterSettings S)> layers)
    {
        int r = layers.GroupBy(l => l.S.Rank).OrderByDescending(g => g.Count()).First().Key;
        double alpha = layers.GroupBy(l => l.S.Alpha).OrderByDescending(g => g.Count()).First().Key;
        var leaves = layers.Select(l => Leaf(l.Path)).Distinct().Order(StringComparer.Ordinal).ToList();
        var adapted = layers.Select(l => l.Path).ToHashSet(StringComparer.Ordinal);
        bool leavesExact = LoraInjector.ModulesOutsideAdapters(model)
            .Where(m => m.Module is Modules.Linear or Modules.Conv2d or LoraLayer)
            .All(m => adapted.Contains(m.Path) || !LoraInjector.Matches(m.Path, leaves));
        var targets = new JsonArray();
        foreach (var t in leavesExact ? leaves : [.. adapted]) targets.Add(t);

        var rankPattern = new JsonObject();
        var alphaPattern = new JsonObject();
        foreach (var (path, s) in layers)
        {
            if (s.Rank != r) rankPattern[path] = s.Rank;
            if (s.Alpha != alpha) alphaPattern[path] = s.Alpha;
        }
        config[prefix + "r"] = r;
        config[prefix + "lora_alpha"] = alpha;
        config[prefix + "target_modules"] = targets;
        config[prefix + "rank_pattern"] = rankPattern;
        config[prefix + "alpha_pattern"] = alphaPattern;
        config[prefix + "use_rslora"] = layers.Any(l => l.S.UseRsLora);
        config[prefix + "lora_dropout"] = layers[0].S.Dropout;
        config[prefix + "init_lora_weights"] = true;
        config[prefix + "bias"] = "none";
    }

    // The name peft would match: the attribute name, with its ModuleList index ("to_out.0").
    private static string Leaf(string path)
    {
        var parts = path.Split('.');
        return parts.Length >= 2 && int.TryParse(parts[^1], CultureInfo.InvariantCulture, out _) ? $"{parts[^2]}.{parts[^1]}" : parts[^1];
    }
}
