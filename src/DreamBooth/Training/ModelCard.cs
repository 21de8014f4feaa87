namespace DreamBooth.Training;

using System.Globalization;
using System.Text;
using DreamBooth.IO;

/// <summary>OUTPUT/README.md in the Hugging Face model-card layout diffusers' training scripts write.</summary>
public static class ModelCard
{
    /// <param name="captioned">Instance images that trained on their own caption rather than the prompt.</param>
    public static void Write(TrainOptions o, IReadOnlyList<Concept> concepts, int captioned, string baseModel, string baseName, bool isXl, ulong seed, int steps, double stepsPerSecond)
    {
        var lora = o.Method == TrainMethod.Lora;
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("---");
        sb.AppendLine("license: creativeml-openrail-m");
        sb.AppendLine($"base_model: {Yaml(o.PretrainedModelNameOrPath ?? baseName)}");
        sb.AppendLine($"instance_prompt: {Yaml(concepts[0].InstancePrompt)}");
        sb.AppendLine("tags:");
        // diffusers' DreamBooth scripts' tags, then ours.
        string[] family = isXl ? ["stable-diffusion-xl", "stable-diffusion-xl-diffusers"] : ["stable-diffusion", "stable-diffusion-diffusers"];
        foreach (var tag in new[] { "text-to-image", "diffusers", "dreambooth", "diffusers-training" }.Concat(lora ? ["lora"] : []).Concat(family).Append("dreambooth.net"))
            sb.AppendLine($"- {tag}");
        sb.AppendLine("inference: true");
        sb.AppendLine("---");
        sb.AppendLine();
        sb.AppendLine($"# DreamBooth {(lora ? "LoRA" : "fine-tune")} of {baseName}");
        sb.AppendLine();
        var weight = o.PriorLossWeight.ToString(inv);
        if (concepts.Count == 1)
            sb.AppendLine($"Trained with DreamBooth.NET on the instance images in `{concepts[0].InstanceDataDir}` with the prompt **{concepts[0].InstancePrompt}**" +
                          (o.WithPriorPreservation ? $" and prior preservation on *{concepts[0].ClassPrompt}* ({o.NumClassImages} class images, weight {weight})." : "."));
        else
        {
            sb.AppendLine($"Trained with DreamBooth.NET on {concepts.Count} concepts" +
                          (o.WithPriorPreservation ? $", with prior preservation ({o.NumClassImages} class images each, weight {weight}):" : ":"));
            sb.AppendLine();
            foreach (var c in concepts)
                sb.AppendLine($"- **{c.InstancePrompt}**: the instance images in `{c.InstanceDataDir}`" + (c.ClassPrompt is null ? "" : $"; class *{c.ClassPrompt}*"));
        }
        if (captioned > 0) sb.AppendLine().AppendLine($"{captioned} instance image(s) trained on their own caption instead of the prompt.");
        sb.AppendLine();
        sb.AppendLine("The base model's licence applies to these weights (Stable Diffusion 1.x/2.x: CreativeML OpenRAIL-M; check the base model's card).");
        sb.AppendLine();
        sb.AppendLine("## Use");
        sb.AppendLine();
        sb.AppendLine("```bash");
        sb.AppendLine(lora
            ? $"dreambooth generate -m {o.PretrainedModelNameOrPath ?? baseModel} --lora {Path.Combine(o.OutputDir, "pytorch_lora_weights.safetensors")} -p \"{concepts[0].InstancePrompt}\""
            : $"dreambooth generate -m {o.OutputDir} -p \"{concepts[0].InstancePrompt}\"");
        sb.AppendLine("```");
        sb.AppendLine();
        if (lora)
        {
            sb.AppendLine("In Python: `pipe.load_lora_weights(\"<this folder>\")` (diffusers).");
            sb.AppendLine();
        }
        sb.AppendLine("## Training");
        sb.AppendLine();
        sb.AppendLine("| setting | value |");
        sb.AppendLine("| --- | --- |");
        void Row(string k, object? v) => sb.AppendLine($"| {k} | {Convert.ToString(v, inv)} |");
        Row("method", o.Method.ToString().ToLowerInvariant());
        Row("steps", steps);
        Row("learning rate", o.EffectiveLearningRate);
        Row("lr scheduler", $"{o.LrScheduler} (warm-up {o.LrWarmupSteps})");
        Row("batch size × accumulation", $"{o.TrainBatchSize} × {o.GradientAccumulationSteps}");
        Row("resolution", o.Resolution?.ToString(inv) ?? "native");
        if (o.EnableBucket) Row("aspect buckets", $"sides {o.MinBucketReso}–{o.MaxBucketReso}, step {o.BucketResoSteps}");
        Row("train text encoder", o.TrainTextEncoder);
        if (lora) Row("LoRA rank / alpha / dropout", $"{o.Rank} / {o.EffectiveLoraAlpha.ToString(inv)} / {o.LoraDropout.ToString(inv)}");
        Row("optimizer", o.Use8bitAdam ? "AdamW 8-bit" : "AdamW");
        Row("mixed precision", o.MixedPrecision);
        Row("gradient checkpointing", o.GradientCheckpointing);
        Row("max grad norm", o.MaxGradNorm);
        Row("seed", seed);
        Row("speed", $"{stepsPerSecond.ToString("0.00", inv)} steps/s");
        sb.AppendLine();
        if (o.ValidationPrompt is not null)
        {
            sb.AppendLine($"Validation prompt: *{o.ValidationPrompt}* — sample grids in `validation/`.");
            sb.AppendLine();
            sb.AppendLine($"![samples](validation/step-{steps.ToString("D6", inv)}.png)");
            sb.AppendLine();
        }
        sb.AppendLine("![loss](loss.png)");
        sb.AppendLine();
        sb.AppendLine("Per-step log: `train_log.jsonl`.");
        AtomicFile.WriteAllText(Path.Combine(o.OutputDir, "README.md"), sb.ToString());
    }

    private static string Yaml(string s) => "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
