// diffusers' training_utils.EMAModel (v0.27.2, foreach=False) as examples/text_to_image/train_text_to_image.py uses
// it with --use_ema: no warm-up, min_decay 0, update_after_step 0.
namespace DreamBooth.Training;

using System.Globalization;
using System.Text.Json.Nodes;
using DreamBooth.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

/// <summary>
/// An exponential moving average of a model's trainable weights. After each optimizer step
/// <c>shadow ← shadow − (1 − decay)·(shadow − weight)</c>, with decay = min(<see cref="Decay"/>, (1 + s)/(10 + s)),
/// s = optimization step − 1 (so the first step copies the weights). Saved as diffusers' <c>save_pretrained</c>
/// saves it: a model folder whose config also holds the EMA's settings and step.
/// </summary>
public sealed class EmaModel : IDisposable
{
    /// <summary>The checkpoint subfolder of the UNet's average, as train_text_to_image.py names it.</summary>
    public const string UnetFolder = "unet_ema";
    public const string WeightsFile = "diffusion_pytorch_model.safetensors";
    private readonly nn.Module model;
    private readonly string? modelConfig;
    private readonly (string Name, Parameter Parameter)[] tracked;
    private readonly Tensor[] shadow;
    private Tensor[]? stored;

    /// <summary>Starts the average at <paramref name="model"/>'s current trainable weights.</summary>
    /// <param name="modelConfig">The model's config.json, which <see cref="SavePretrained"/> extends (diffusers' model_config).</param>
    public EmaModel(nn.Module model, double decay, string? modelConfig = null)
    {
        if (decay is < 0 or > 1 || double.IsNaN(decay)) throw new ArgumentOutOfRangeException(nameof(decay), decay, "EMA decay must be in [0, 1].");
        this.model = model;
        this.modelConfig = modelConfig;
        Decay = decay;
        tracked = model.named_parameters().Where(p => p.parameter.requires_grad).ToArray();
        using var noGrad = no_grad();
        shadow = tracked.Select(p => p.Parameter.detach().clone().DetachFromDisposeScope()).ToArray();
    }

    /// <summary>The largest decay (diffusers' <c>decay</c>).</summary>
    public double Decay { get; private set; }

    /// <summary>Updates made so far (diffusers' <c>optimization_step</c>).</summary>
    public int OptimizationStep { get; private set; }

    /// <summary>The averages by parameter name, in the model's naming.</summary>
    public IEnumerable<(string Name, Tensor Average)> Averages => tracked.Select((p, i) => (p.Name, shadow[i]));

    /// <summary>
    /// diffusers' <c>get_decay</c> without warm-up: 0 for the first update, then min(<paramref name="decay"/>, (1 + s)/(10 + s))
    /// with s = <paramref name="optimizationStep"/> − 1.
    /// </summary>
    public static double DecayAt(int optimizationStep, double decay)
    {
        int step = Math.Max(0, optimizationStep - 1);
        if (step <= 0) return 0;
        return Math.Max(Math.Min((1.0 + step) / (10.0 + step), decay), 0);
    }

    /// <summary>One update after an optimizer step, the op sequence of diffusers' <c>s.sub_((1 − decay)·(s − p))</c>.</summary>
    public void Step()
    {
        OptimizationStep++;
        using var oneMinusDecay = (1 - DecayAt(OptimizationStep, Decay)).ToScalar();
        using var noGrad = no_grad();
        for (int i = 0; i < tracked.Length; i++)
        {
            using var difference = shadow[i].sub(tracked[i].Parameter);
            difference.mul_(oneMinusDecay);
            shadow[i].sub_(difference);
        }
    }

    /// <summary>Puts the averages into the model's weights (diffusers' <c>copy_to</c>).</summary>
    public void CopyTo()
    {
        using var noGrad = no_grad();
        for (int i = 0; i < tracked.Length; i++) tracked[i].Parameter.copy_(shadow[i]);
    }

    /// <summary>
    /// Runs <paramref name="action"/> with the averages in the model, then puts the trained weights back bit for bit
    /// (diffusers' store, copy_to, restore around validation).
    /// </summary>
    public T WithAverages<T>(Func<T> action)
    {
        using (no_grad()) stored = tracked.Select(p => p.Parameter.detach().clone().DetachFromDisposeScope()).ToArray();
        try
        {
            CopyTo();
            return action();
        }
        finally
        {
            using (no_grad())
                for (int i = 0; i < tracked.Length; i++) tracked[i].Parameter.copy_(stored[i]);
            foreach (var t in stored) t.Dispose();
            stored = null;
        }
    }

    /// <summary>
    /// Writes <paramref name="dir"/> as diffusers' <c>EMAModel.save_pretrained</c>: the model's weights with the averages in
    /// place of the trained ones, and the model's config with the EMA's settings added.
    /// </summary>
    public void SavePretrained(string dir)
    {
        if (modelConfig is null) throw new InvalidOperationException("SavePretrained needs the model's config (modelConfig).");
        Directory.CreateDirectory(dir);
        var averages = Averages.ToDictionary(a => a.Name, a => a.Average, StringComparer.Ordinal);
        var state = model.state_dict().Select(kv => KeyValuePair.Create(kv.Key, averages.GetValueOrDefault(kv.Key) ?? kv.Value));
        SafeTensorsWriter.Write(Path.Combine(dir, WeightsFile), state, new Dictionary<string, string> { ["format"] = "pt" });
        var config = JsonNode.Parse(File.ReadAllText(modelConfig))!.AsObject();
        config["decay"] = Decay;
        config["min_decay"] = 0.0;
        config["optimization_step"] = OptimizationStep;
        config["update_after_step"] = 0;
        config["use_ema_warmup"] = false;
        config["inv_gamma"] = 1.0;
        config["power"] = 2.0 / 3.0;
        AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString(JsonText.Indented));
    }

    /// <summary>
    /// Reads a folder <see cref="SavePretrained"/> wrote: the averages, the step and, as diffusers' load hook, the decay
    /// it was saved with.
    /// </summary>
    public void LoadPretrained(string dir)
    {
        var configPath = Path.Combine(dir, "config.json");
        var weightsPath = Path.Combine(dir, WeightsFile);
        if (!File.Exists(configPath) || !File.Exists(weightsPath))
            throw new DreamBoothException($"{dir}: no EMA weights (config.json and {WeightsFile}); was the checkpoint saved without --use-ema?");
        JsonObject config;
        try
        {
            config = JsonNode.Parse(File.ReadAllText(configPath))?.AsObject() ?? throw new DreamBoothException($"{configPath}: empty.");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new DreamBoothException($"{configPath}: corrupt ({e.Message}).");
        }
        if (config["decay"] is not JsonValue d || !d.TryGetValue<double>(out var decay) || decay is not (>= 0 and <= 1)
            || config["optimization_step"] is not JsonValue s || !s.TryGetValue<int>(out var step) || step < 0)
            throw new DreamBoothException($"{configPath}: no valid decay and optimization_step; the checkpoint is damaged.");
        using (var weights = SafeTensorsFile.Open(weightsPath))
            for (int i = 0; i < tracked.Length; i++)
            {
                if (!weights.Contains(tracked[i].Name))
                    throw new DreamBoothException($"{weightsPath}: no average for '{tracked[i].Name}'; the checkpoint was made with another model.");
                weights.ReadInto(tracked[i].Name, shadow[i]);
            }
        Decay = decay;
        OptimizationStep = step;
    }

    public void Dispose()
    {
        foreach (var t in shadow) t.Dispose();
        if (stored is not null) foreach (var t in stored) t.Dispose();
    }
}
