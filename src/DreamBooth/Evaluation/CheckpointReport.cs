// checkpoints.json, checkpoints.png and checkpoints.html of a checkpoint evaluation.
namespace DreamBooth.Evaluation;

using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DreamBooth.Imaging;
using DreamBooth.IO;
using SkiaSharp;

/// <summary>
/// The per-step table of a run's evaluated checkpoints, the recommendation and the rule behind it: <c>checkpoints.json</c>,
/// a plot of DINO, CLIP-I and CLIP-T against the step (<c>checkpoints.png</c>) and <c>checkpoints.html</c>.
/// </summary>
public static class CheckpointReport
{
    public const string JsonFile = "checkpoints.json", PlotFile = "checkpoints.png", HtmlFile = "checkpoints.html";

    /// <summary>Writes the three files; the recommendation is null when no checkpoint can be chosen yet.</summary>
    public static void Write(string outputDir, IReadOnlyList<CheckpointPoint> points, CheckpointRecommendation? recommendation,
                             EvaluationSettings settings, string schedulerClass)
    {
        Directory.CreateDirectory(outputDir);
        AtomicFile.WriteAllText(Path.Combine(outputDir, JsonFile), Json(points, recommendation, settings, schedulerClass).ToJsonString(JsonText.Indented));
        PngWriter.Write(Path.Combine(outputDir, PlotFile), Plot(points, recommendation));
        AtomicFile.WriteAllText(Path.Combine(outputDir, HtmlFile), Html(points, recommendation, settings));
    }

    public static JsonObject Json(IReadOnlyList<CheckpointPoint> points, CheckpointRecommendation? r, EvaluationSettings settings, string schedulerClass)
    {
        var definitions = new JsonObject([.. EvaluationReport.Definitions.Select(d => KeyValuePair.Create(d.Key, (JsonNode?)d.Value))])
        {
            ["S"] = "subject fidelity, mean(DINO, CLIP-I)",
        };
        return new JsonObject
        {
            ["rule"] = CheckpointChoice.Rule,
            ["recommended"] = r is null ? null : new JsonObject
            {
                ["step"] = r.Recommended.Step, ["name"] = r.Recommended.Name, ["use"] = r.Recommended.Use, ["reason"] = r.Reason,
            },
            ["plateau_step"] = r?.PlateauStep,
            ["prompt_fidelity_falls_at_step"] = r?.PromptFallStep,
            ["checkpoints"] = new JsonArray([.. points.Select(p => new JsonObject
            {
                ["step"] = p.Step, ["name"] = p.Name, ["use"] = p.Use, ["candidate"] = p.Candidate,
                ["DINO"] = p.Dino, ["CLIP-I"] = p.ClipI, ["CLIP-T"] = p.ClipT, ["S"] = p.SubjectFidelity, ["PRES"] = p.Pres, ["DIV"] = p.Div,
                ["report"] = p.Report,
            })]),
            ["definitions"] = definitions,
            ["settings"] = EvaluationReport.SettingsJson(settings with { Loras = [], Weights = [] }, schedulerClass),
        };
    }

    /// <summary>The points a checkpoints.json holds (an interrupted run picks them up when it resumes); none when absent or unreadable.</summary>
    public static IReadOnlyList<CheckpointPoint> Read(string outputDir)
    {
        var path = Path.Combine(outputDir, JsonFile);
        if (!File.Exists(path)) return [];
        static T Required<T>(JsonObject o, string key) where T : struct =>
            o[key]?.GetValue<T>() ?? throw new FormatException($"no {key}");
        try
        {
            return JsonNode.Parse(File.ReadAllText(path))?["checkpoints"] is JsonArray list
                ? [.. list.OfType<JsonObject>().Select(p => new CheckpointPoint(
                    Required<int>(p, "step"), p["name"]?.GetValue<string>() ?? "", p["use"]?.GetValue<string>(),
                    Required<double>(p, "DINO"), Required<double>(p, "CLIP-I"), Required<double>(p, "CLIP-T"), Required<double>(p, "PRES"),
                    p["DIV"]?.GetValue<double>(), Required<bool>(p, "candidate"), p["report"]?.GetValue<string>()))]
                : [];
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return [];
        }
    }

    /// <summary>Two panels over the step: subject fidelity (DINO, CLIP-I) and prompt fidelity (CLIP-T), the choice marked.</summary>
    public static RgbImage Plot(IReadOnlyList<CheckpointPoint> points, CheckpointRecommendation? r)
    {
        List<(double, double)> Series(Func<CheckpointPoint, double?> metric) =>
            [.. points.Where(p => metric(p) is not null).Select(p => ((double)p.Step, metric(p)!.Value))];
        var dino = Series(p => p.Dino);
        PlotPanel[] panels =
        [
            new("subject fidelity", [
                .. dino.Count == 0 ? [] : new[] { new PlotSeries("DINO", dino, new SKColor(40, 110, 200), Dots: true) },
                new PlotSeries("CLIP-I", Series(p => p.ClipI), new SKColor(120, 60, 170), Dots: true),
            ]),
            new("prompt fidelity", [new PlotSeries("CLIP-T", Series(p => p.ClipT), new SKColor(220, 120, 20), Dots: true)]),
        ];
        var markers = new List<PlotMarker>();
        if (r is not null)
        {
            markers.Add(new PlotMarker(r.Recommended.Step, $"recommended: {r.Recommended.Name}", new SKColor(20, 150, 60)));
            if (r.PromptFallStep is int fall) markers.Add(new PlotMarker(fall, $"CLIP-T falls: step {fall}", new SKColor(200, 40, 40)));
        }
        return LinePlot.Draw(panels, "step", markers, panelHeight: 300);
    }

    public static string Html(IReadOnlyList<CheckpointPoint> points, CheckpointRecommendation? r, EvaluationSettings s)
    {
        static string E(string? text) => WebUtility.HtmlEncode(text ?? "");
        static string F(double? x) => x is double v ? v.ToString("0.0000", CultureInfo.InvariantCulture) : "–";
        var html = new StringBuilder(EvaluationReport.Head("DreamBooth checkpoints"));
        html.Append($"<h1>Checkpoints: {E(s.Identifier)} {E(s.ClassNoun)}</h1>\n");
        html.Append(r is null
            ? "<p>No checkpoint to recommend yet.</p>\n"
            : $"<h2>Recommended: {E(r.Recommended.Name)} (step {r.Recommended.Step})</h2>\n<p>{E(r.Reason)}</p>\n<p>Use: <code>{E(r.Recommended.Use)}</code></p>\n");
        html.Append($"<p><b>Rule.</b> {E(CheckpointChoice.Rule)}</p>\n");
        html.Append($"<figure><img src=\"{PlotFile}\" alt=\"DINO, CLIP-I and CLIP-T against the step\"></figure>\n");
        html.Append("<table><tr><th>step</th><th>checkpoint</th><th>DINO</th><th>CLIP-I</th><th>S</th><th>CLIP-T</th><th>PRES</th><th>DIV</th><th>report</th></tr>\n");
        foreach (var p in points)
        {
            var name = E(p.Name) + (p.Candidate || p.Step == 0 ? "" : " (deleted)") + (r?.Recommended.Step == p.Step ? " ★" : "");
            var link = p.Report is null ? "" : $"<a href=\"{E(p.Report)}\">images</a>";
            html.Append($"<tr><td>{p.Step}</td><td>{name}</td><td>{F(p.Dino)}</td><td>{F(p.ClipI)}</td><td>{F(p.SubjectFidelity)}</td>" +
                        $"<td>{F(p.ClipT)}</td><td>{F(p.Pres)}</td><td>{F(p.Div)}</td><td>{link}</td></tr>\n");
        }
        html.Append("</table>\n<h2>Settings</h2>\n<table>\n");
        foreach (var (key, value) in new[]
                 {
                     ("base model", s.Model), ("prompts", string.Join(" | ", s.PromptTemplates)), ("seeds", string.Join(", ", s.Seeds)),
                     ("steps", s.Steps.ToString(CultureInfo.InvariantCulture)), ("guidance scale", s.GuidanceScale.ToString(CultureInfo.InvariantCulture)),
                     ("CLIP", s.ClipModel), ("DINO", s.DinoModel), ("subject photos", s.SubjectDir),
                 })
            html.Append($"<tr><th>{key}</th><td>{E(value)}</td></tr>\n");
        return html.Append("</table>\n</body></html>\n").ToString();
    }
}
