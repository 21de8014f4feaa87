// DreamBooth evaluation: render prompts × seeds with the subject identifier and without it, then score them with CLIP and DINO.
namespace DreamBooth.Evaluation;

using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DreamBooth.Imaging;
using DreamBooth.IO;
using DreamBooth.Pipelines;
using DreamBooth.Torch;

/// <summary>Where an evaluation is: <paramref name="Stage"/> ("render", "embed"), items done of total.</summary>
public sealed record EvaluationProgress(string Stage, int Done, int Total, string Item);

/// <summary>One prompt's scores (over its seeds) and its grid (subject row above class row), relative to the output folder.</summary>
/// <remarks>Dino is null without a DINO model; PRES and DIV are then on CLIP image features.</remarks>
public sealed record PromptScores(string Prompt, string ClassPrompt, double? Dino, double ClipI, double ClipT, double Pres, double? Div, string Grid);

/// <summary>The five metrics over all prompts and seeds, the per-prompt scores, and how many images were rendered or reused.</summary>
public sealed record EvaluationResult(double? Dino, double ClipI, double ClipT, double Pres, double? Div,
                                      IReadOnlyList<PromptScores> Prompts, int Rendered, int Reused, string SchedulerClass);

/// <summary>
/// Renders every prompt template for every seed twice, as the subject prompt ("a sks dog in the snow") and as the class
/// prompt ("a dog in the snow"), and scores them: DINO and CLIP-I of subject images vs the real photos, CLIP-T of subject
/// images vs their class prompt's text, PRES of class images vs the real photos, DIV among a prompt's subject images.
/// Images are cached under <c>images/</c> by a hash of everything that determines them, so a rerun with the same
/// settings reuses them and a changed setting renders anew.
/// </summary>
public static class SubjectEvaluation
{
    public static EvaluationResult Run(StableDiffusionPipeline pipe, EvaluationModels models, EvaluationSettings settings, string outputDir,
                                       IProgress<EvaluationProgress>? progress = null, CancellationToken cancel = default)
    {
        if (settings.PromptTemplates.Count == 0) throw new DreamBoothException("No evaluation prompts.");
        if (settings.Seeds.Count == 0) throw new DreamBoothException("No seeds.");
        var realPaths = ImageLoader.ListImages(settings.SubjectDir, out _);
        if (realPaths.Count == 0) throw new DreamBoothException($"{settings.SubjectDir}: no subject images.");
        var real = realPaths.Select(ImageLoader.Load).ToList();

        Directory.CreateDirectory(Path.Combine(outputDir, "images"));
        Directory.CreateDirectory(Path.Combine(outputDir, "grids"));
        var modelKey = ModelKey(pipe, settings);
        int total = settings.PromptTemplates.Count * settings.Seeds.Count * 2, done = 0, rendered = 0, reused = 0;
        var schedulerClass = settings.Scheduler ?? pipe.SchedulerConfig.ClassName ?? "?";

        RgbImage Render(string prompt, ulong seed)
        {
            cancel.ThrowIfCancellationRequested();
            progress?.Report(new EvaluationProgress("render", done, total, prompt));
            var path = Path.Combine(outputDir, "images", ImageKey(modelKey, settings, prompt, seed) + ".png");
            RgbImage image;
            if (File.Exists(path))
            {
                image = ImageLoader.Load(path);
                reused++;
            }
            else
            {
                var request = new GenerationRequest
                {
                    Prompt = prompt, NegativePrompt = settings.NegativePrompt, Steps = settings.Steps, GuidanceScale = settings.GuidanceScale,
                    Width = settings.Width, Height = settings.Height, Seed = seed, Scheduler = settings.Scheduler,
                };
                using var result = pipe.Generate(request, cancel: cancel);
                schedulerClass = result.SchedulerClass;
                image = GeneratedImageWriter.ToImages(result)[0];
                PngWriter.Write(path, image, [new("parameters", $"{prompt}\nSeed: {seed}, Steps: {settings.Steps}, CFG scale: {settings.GuidanceScale}")]);
                rendered++;
            }
            done++;
            return image;
        }

        var subject = new List<List<RgbImage>>();
        var classImages = new List<List<RgbImage>>();
        var prompts = new List<(string Subject, string Class)>();
        foreach (var template in settings.PromptTemplates)
        {
            var p = EvaluationPrompts.Format(template, settings.Identifier, settings.ClassNoun);
            var c = EvaluationPrompts.ClassPrompt(template, settings.Identifier, settings.ClassNoun);
            prompts.Add((p, c));
            subject.Add([.. settings.Seeds.Select(seed => Render(p, seed))]);
            classImages.Add([.. settings.Seeds.Select(seed => Render(c, seed))]);
        }
        progress?.Report(new EvaluationProgress("render", done, total, ""));

        progress?.Report(new EvaluationProgress("embed", 0, 1, models.Dino is null ? "CLIP features" : "CLIP and DINO features"));
        bool withDino = models.Dino is not null;
        var realDino = models.PresenceEmbeddings(real);
        var realClip = models.ClipImageEmbeddings(real);
        var texts = models.ClipTextEmbeddings([.. prompts.Select(p => p.Class)]);
        var scores = new List<PromptScores>();
        var all = (Dino: new List<float[]>(), Clip: new List<float[]>(), Text: new List<float[]>(), ClassDino: new List<float[]>(), Groups: new List<IReadOnlyList<float[]>>());
        for (var i = 0; i < prompts.Count; i++)
        {
            var clip = models.ClipImageEmbeddings(subject[i]);
            var dino = withDino ? models.DinoEmbeddings(subject[i]) : clip;
            var classDino = models.PresenceEmbeddings(classImages[i]);
            var text = Enumerable.Repeat(texts[i], clip.Count).ToList();
            var grid = Path.Combine("grids", $"prompt-{i:D2}.png");
            PngWriter.Write(Path.Combine(outputDir, grid), ImageGrid.Make([.. subject[i], .. classImages[i]], 2, settings.Seeds.Count),
                [new("parameters", $"{prompts[i].Subject} (top) / {prompts[i].Class} (bottom); seeds {string.Join(",", settings.Seeds)}")]);
            scores.Add(new PromptScores(prompts[i].Subject, prompts[i].Class,
                withDino ? DreamBoothMetrics.MeanCrossCosine(dino, realDino) : null, DreamBoothMetrics.MeanCrossCosine(clip, realClip),
                DreamBoothMetrics.MeanPairedCosine(clip, text), DreamBoothMetrics.MeanCrossCosine(classDino, realDino),
                DreamBoothMetrics.Diversity([dino]), grid.Replace('\\', '/')));
            all.Dino.AddRange(dino);
            all.Clip.AddRange(clip);
            all.Text.AddRange(text);
            all.ClassDino.AddRange(classDino);
            all.Groups.Add(dino);
        }
        progress?.Report(new EvaluationProgress("embed", 1, 1, ""));
        return new EvaluationResult(
            withDino ? DreamBoothMetrics.MeanCrossCosine(all.Dino, realDino) : null, DreamBoothMetrics.MeanCrossCosine(all.Clip, realClip),
            DreamBoothMetrics.MeanPairedCosine(all.Clip, all.Text), DreamBoothMetrics.MeanCrossCosine(all.ClassDino, realDino),
            DreamBoothMetrics.Diversity(all.Groups), scores, rendered, reused, schedulerClass);
    }

    // The model's identity for the cache: its path, each LoRA's path and scale, and each LoRA or weight file's size
    // and modification time (a retrained run rewrites them), and the dtype and device it renders with.
    private static string ModelKey(StableDiffusionPipeline pipe, EvaluationSettings s)
    {
        static string File(string path)
        {
            var info = new FileInfo(path);
            return $"{info.FullName}:{info.Length}:{info.LastWriteTimeUtc.Ticks}";
        }
        return string.Join("|", [
            Path.GetFullPath(s.ModelPath), $"{pipe.Unet.ParameterDtype()}@{pipe.Device.type}",
            .. s.Loras.Select(l => $"{File(l.File)}:{l.Scale.ToString(System.Globalization.CultureInfo.InvariantCulture)}"),
            .. s.Weights.Select(File),
        ]);
    }

    private static string ImageKey(string modelKey, EvaluationSettings s, string prompt, ulong seed)
    {
        var key = new JsonObject
        {
            ["model"] = modelKey, ["prompt"] = prompt, ["negative"] = s.NegativePrompt, ["seed"] = seed, ["steps"] = s.Steps,
            ["guidance"] = s.GuidanceScale, ["scheduler"] = s.Scheduler, ["width"] = s.Width, ["height"] = s.Height,
        };
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key.ToJsonString())))[..20].ToLowerInvariant();
    }
}
