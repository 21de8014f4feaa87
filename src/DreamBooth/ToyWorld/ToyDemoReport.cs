namespace DreamBooth.ToyWorld;

using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

/// <summary>Writes the demo's metrics.json and report.html (paths in the report are relative to the output folder).</summary>
internal static class ToyDemoReport
{
    /// <summary>Metric keys of metrics.json, with what each means (the report prints these sentences).</summary>
    public static IReadOnlyList<(string Key, string Meaning)> Metrics { get; } =
    [
        ("subject_fidelity", "Share of images of \"sks box\" prompts that the classifier takes for the checkered subject; higher means the subject was learned."),
        ("prompt_fidelity", "Share of images with a background in the prompt whose border shows that background; higher means the context is obeyed."),
        ("class_subject_leak", "Share of \"a photo of a box\" images that show the subject; lower means the class still means any box."),
        ("unrelated_subject_leak", "Share of images of another class (\"a photo of a ball …\") that show the subject; prior preservation does not sample that class, so it does not protect it."),
        ("class_prior_drift", "Mean squared pixel difference between this model's class images and the base model's at the same seeds; lower means the class prior was kept."),
        ("diversity", "Mean squared pixel difference between images of the same prompt; higher means outputs still vary."),
    ];

    public static string Json(ToyDemoOptions o, IReadOnlyList<ToyColor> heldOut, IReadOnlyList<ToyDemoPrompt> prompts,
                              IReadOnlyList<ToyRunMetrics> runs, double classifierAccuracy)
    {
        var runsNode = new JsonObject();
        foreach (var r in runs)
        {
            var values = r.Values;
            var node = new JsonObject();
            for (int i = 0; i < Metrics.Count; i++) node[Metrics[i].Key] = Math.Round(values[i], 6);
            runsNode[r.Name] = node;
        }
        var root = new JsonObject
        {
            ["settings"] = new JsonObject
            {
                ["base_model"] = Path.GetFileName(Path.TrimEndingDirectorySeparator(o.BaseModel)),
                ["seed"] = o.Seed, ["train_steps"] = o.TrainSteps, ["learning_rate"] = o.LearningRate, ["rank"] = o.Rank,
                ["full_train_steps"] = o.FullTrainSteps, ["full_learning_rate"] = o.FullLearningRate,
                ["train_text_encoder"] = o.TrainTextEncoder, ["prior_loss_weight"] = o.PriorLossWeight,
                ["instance_images"] = o.InstanceImages, ["num_class_images"] = o.NumClassImages, ["images_per_prompt"] = o.ImagesPerPrompt,
                ["inference_steps"] = o.InferenceSteps, ["guidance_scale"] = o.GuidanceScale, ["image_size"] = o.ImageSize,
                ["classifier_steps"] = o.ClassifierSteps,
                ["held_out_backgrounds"] = new JsonArray([.. heldOut.Select(b => (JsonNode)b.Name)]),
                ["prompts"] = new JsonArray([.. prompts.Select(p => (JsonNode)p.Text)]),
            },
            ["classifier_accuracy"] = Math.Round(classifierAccuracy, 6),
            ["runs"] = runsNode,
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    public static string Html(ToyDemoOptions o, IReadOnlyList<ToyDemoPrompt> prompts, IReadOnlyList<ToyRunMetrics> runs, double classifierAccuracy)
    {
        static string E(string text) => WebUtility.HtmlEncode(text);
        static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
        var html = new StringBuilder();
        html.AppendLine("<!DOCTYPE html>");
        html.AppendLine("<html><head><meta charset=\"utf-8\"><title>DreamBooth toy world demo</title>");
        html.AppendLine("<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:center}" +
                        "table{border-collapse:collapse}img.grid{image-rendering:pixelated;width:256px}img.instance{image-rendering:pixelated;width:96px}</style></head><body>");
        html.AppendLine("<h1>DreamBooth in the toy world</h1>");
        html.AppendLine($"<p>Subject: the magenta and black checkered box (\"sks box\"). Seed {o.Seed}; LoRA: {o.TrainSteps} steps at learning rate " +
                        $"{o.LearningRate.ToString(CultureInfo.InvariantCulture)}; full fine-tuning: {o.FullTrainSteps} steps at " +
                        $"{o.FullLearningRate.ToString(CultureInfo.InvariantCulture)}; {o.ImagesPerPrompt} images per prompt. " +
                        $"Classifier accuracy on held-out renders: {F(classifierAccuracy)}.</p>");
        html.AppendLine("<h2>Instance images</h2><p>" + string.Concat(Enumerable.Range(0, o.InstanceImages)
            .Select(i => $"<img class=\"instance\" src=\"instance/{i:00}.png\" alt=\"instance image {i}\"> ")) + "</p>");
        html.AppendLine("<h2>Metrics</h2><table><tr><th>run</th>" + string.Concat(Metrics.Select(m => $"<th>{m.Key}</th>")) + "</tr>");
        foreach (var r in runs)
            html.AppendLine($"<tr><td>{E(r.Name)}</td>" + string.Concat(r.Values.Select(v => $"<td>{F(v)}</td>")) + "</tr>");
        html.AppendLine("</table><ul>");
        foreach (var (key, meaning) in Metrics) html.AppendLine($"<li><b>{key}</b>: {E(meaning)}</li>");
        html.AppendLine("</ul>");
        html.AppendLine("<h2>Samples (same seed in every cell)</h2><table><tr><th>prompt</th>" +
                        string.Concat(runs.Select(r => $"<th>{E(r.Name)}</th>")) + "</tr>");
        for (int k = 0; k < prompts.Count; k++)
            html.AppendLine($"<tr><td>{E(prompts[k].Text)}</td>" +
                            string.Concat(runs.Select(r => $"<td><img class=\"grid\" src=\"grids/{E(r.Name)}/{k:00}.png\" alt=\"{E(r.Name)}: {E(prompts[k].Text)}\"></td>")) +
                            "</tr>");
        html.AppendLine("</table><h2>Training loss</h2>");
        foreach (var r in runs.Where(r => r.Name != "base"))
            html.AppendLine($"<figure><img src=\"runs/{E(r.Name)}/loss.png\" alt=\"loss of {E(r.Name)}\"><figcaption>{E(r.Name)}</figcaption></figure>");
        html.AppendLine("</body></html>");
        return html.ToString();
    }
}
