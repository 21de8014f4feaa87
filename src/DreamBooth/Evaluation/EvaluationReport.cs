// metrics.json and report.html of an evaluation.
namespace DreamBooth.Evaluation;

using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using DreamBooth.IO;

/// <summary>Writes an evaluation's <c>metrics.json</c> (metrics, their definitions, every setting) and a self-contained <c>report.html</c>.</summary>
public static class EvaluationReport
{
    /// <summary>How each metric is computed, as stated in metrics.json and the report.</summary>
    public static readonly IReadOnlyDictionary<string, string> Definitions = new Dictionary<string, string>
    {
        ["DINO"] = "mean cosine of DINO CLS embeddings over all (subject-prompt image, real photo) pairs; higher = more subject fidelity",
        ["CLIP-I"] = "mean cosine of CLIP image embeddings over all (subject-prompt image, real photo) pairs; higher = more subject fidelity",
        ["CLIP-T"] = "mean cosine between each subject-prompt image's CLIP embedding and the CLIP text embedding of its prompt without the identifier; higher = more prompt fidelity",
        ["PRES"] = "mean DINO cosine over all (class-prompt image, real photo) pairs; lower = better prior preservation",
        ["DIV"] = "1 - mean pairwise DINO cosine among one prompt's subject images over the seeds (substitute for the paper's LPIPS); higher = more diverse",
    };

    public static void Write(string outputDir, EvaluationSettings settings, EvaluationResult result)
    {
        AtomicFile.WriteAllText(Path.Combine(outputDir, "metrics.json"), Json(settings, result).ToJsonString(JsonText.Indented));
        AtomicFile.WriteAllText(Path.Combine(outputDir, "report.html"), Html(settings, result));
    }

    public static JsonObject Json(EvaluationSettings s, EvaluationResult r) => new()
    {
        ["metrics"] = new JsonObject { ["DINO"] = r.Dino, ["CLIP-I"] = r.ClipI, ["CLIP-T"] = r.ClipT, ["PRES"] = r.Pres, ["DIV"] = r.Div },
        ["definitions"] = new JsonObject([.. Definitions.Select(d => KeyValuePair.Create(d.Key, (JsonNode?)d.Value))]),
        ["settings"] = SettingsJson(s, r.SchedulerClass),
        ["prompts"] = new JsonArray([.. r.Prompts.Select(p => new JsonObject
        {
            ["prompt"] = p.Prompt, ["class_prompt"] = p.ClassPrompt, ["DINO"] = p.Dino, ["CLIP-I"] = p.ClipI, ["CLIP-T"] = p.ClipT,
            ["PRES"] = p.Pres, ["DIV"] = p.Div, ["grid"] = p.Grid,
        })]),
        ["images"] = new JsonObject { ["rendered"] = r.Rendered, ["reused"] = r.Reused },
    };

    /// <summary>Every setting, as metrics.json records it.</summary>
    public static JsonObject SettingsJson(EvaluationSettings s, string schedulerClass) => new()
    {
        ["model"] = s.Model,
        ["loras"] = new JsonArray([.. s.Loras.Select(l => new JsonObject { ["file"] = l.File, ["scale"] = l.Scale })]),
        ["weights"] = new JsonArray([.. s.Weights.Select(w => (JsonNode)w)]),
        ["seeds"] = new JsonArray([.. s.Seeds.Select(x => (JsonNode)x)]),
        ["scheduler"] = schedulerClass,
        ["steps"] = s.Steps,
        ["guidance_scale"] = s.GuidanceScale,
        ["width"] = s.Width,
        ["height"] = s.Height,
        ["negative_prompt"] = s.NegativePrompt,
        ["clip_model"] = s.ClipModel,
        ["dino_model"] = s.DinoModel,
        ["subject_dir"] = s.SubjectDir,
        ["identifier"] = s.Identifier,
        ["class_noun"] = s.ClassNoun,
        ["subject_kind"] = s.SubjectKind.ToString().ToLowerInvariant(),
        ["prompt_templates"] = new JsonArray([.. s.PromptTemplates.Select(p => (JsonNode)p)]),
    };

    /// <summary>The start of a report page, up to and including &lt;body&gt;.</summary>
    internal static string Head(string title) =>
        $"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{WebUtility.HtmlEncode(title)}</title>\n" +
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}" +
        "img{max-width:100%;image-rendering:pixelated}figure{margin:1em 0}</style></head><body>\n";

    public static string Html(EvaluationSettings s, EvaluationResult r)
    {
        static string E(string? text) => WebUtility.HtmlEncode(text ?? "");
        static string F(double? x) => x is double v ? v.ToString("0.0000", CultureInfo.InvariantCulture) : "–";
        var html = new StringBuilder();
        html.Append(Head("DreamBooth evaluation"))
            .Append($"<h1>DreamBooth evaluation: {E(s.Identifier)} {E(s.ClassNoun)}</h1>\n<h2>Metrics</h2>\n<table><tr><th>metric</th><th>value</th><th>definition</th></tr>\n");
        foreach (var (name, value) in new[] { ("DINO", (double?)r.Dino), ("CLIP-I", r.ClipI), ("CLIP-T", r.ClipT), ("PRES", r.Pres), ("DIV", r.Div) })
            html.Append($"<tr><td>{name}</td><td>{F(value)}</td><td>{E(Definitions[name])}</td></tr>\n");
        html.Append("</table>\n<h2>Settings</h2>\n<table>\n");
        foreach (var (key, value) in new[]
                 {
                     ("model", s.Model), ("LoRA", string.Join(", ", s.Loras.Select(l => $"{l.File}:{l.Scale.ToString(CultureInfo.InvariantCulture)}"))),
                     ("weights", string.Join(", ", s.Weights)),
                     ("seeds", string.Join(", ", s.Seeds)), ("scheduler", r.SchedulerClass), ("steps", s.Steps.ToString(CultureInfo.InvariantCulture)),
                     ("guidance scale", s.GuidanceScale.ToString(CultureInfo.InvariantCulture)), ("CLIP", s.ClipModel), ("DINO", s.DinoModel),
                     ("subject photos", s.SubjectDir), ("images", $"{r.Rendered} rendered, {r.Reused} reused"),
                 })
            html.Append($"<tr><th>{key}</th><td>{E(value)}</td></tr>\n");
        html.Append("</table>\n<h2>Prompts</h2>\n<table><tr><th>prompt</th><th>DINO</th><th>CLIP-I</th><th>CLIP-T</th><th>PRES</th><th>DIV</th></tr>\n");
        foreach (var p in r.Prompts)
            html.Append($"<tr><td>{E(p.Prompt)}</td><td>{F(p.Dino)}</td><td>{F(p.ClipI)}</td><td>{F(p.ClipT)}</td><td>{F(p.Pres)}</td><td>{F(p.Div)}</td></tr>\n");
        html.Append("</table>\n");
        foreach (var p in r.Prompts)
            html.Append($"<figure><img src=\"{E(p.Grid)}\" alt=\"{E(p.Prompt)}\"><figcaption>top: {E(p.Prompt)}; bottom: {E(p.ClassPrompt)}</figcaption></figure>\n");
        return html.Append("</body></html>\n").ToString();
    }
}
