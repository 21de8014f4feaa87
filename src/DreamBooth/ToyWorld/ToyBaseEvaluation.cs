namespace DreamBooth.ToyWorld;

using System.Text.Json.Nodes;
using DreamBooth.Imaging;
using DreamBooth.Pipelines;

/// <summary>
/// How often a toy base model draws what its prompt asks for. Every ordinary caption of the world (shape × object
/// colour × background, object ≠ background) is generated at fixed seeds and read back from the known factors: the
/// shape by <see cref="ToyClassifier"/>, the background by <see cref="ToyMetrics.BorderColor"/>, the object colour by
/// <see cref="ToyMetrics.ObjectColor"/>. A fair judge: the same readers score clean renders (<see cref="ToyBaseRates.OnRenders"/>).
/// </summary>
public static class ToyBaseEvaluation
{
    /// <summary>Every ordinary caption of the world, in a fixed order (shape, then object colour, then background).</summary>
    public static IReadOnlyList<ToyScene> AllScenes() =>
    [
        .. from shape in Enum.GetValues<ToyShape>()
           from obj in ToyPalette.ObjectColors
           from background in ToyPalette.BackgroundColors
           where background != obj
           select new ToyScene(shape, obj, background, 0.5, 0.5, 0.5),
    ];

    /// <summary>Generates <paramref name="imagesPerPrompt"/> images of every caption and scores them.</summary>
    public static ToyBaseRates Measure(string baseModel, ToyClassifier classifier, int imagesPerPrompt = 2, int seed = 0, int steps = 25,
                                       double guidance = 5, Action<int, int>? report = null, CancellationToken cancel = default)
    {
        if (imagesPerPrompt < 1) throw new DreamBoothException($"At least one image per prompt, not {imagesPerPrompt}.");
        var scenes = AllScenes();
        using var pipe = PipelineLoader.Load(baseModel);
        var images = new List<(ToyScene Scene, RgbImage Image)>();
        for (int k = 0; k < scenes.Count; k++)
        {
            cancel.ThrowIfCancellationRequested();
            using var generated = pipe.Generate(new GenerationRequest
            {
                Prompt = scenes[k].Caption, Seed = (ulong)(seed + k), Steps = steps, NumImages = imagesPerPrompt,
                Width = classifier.ImageSize, Height = classifier.ImageSize, GuidanceScale = guidance,
            });
            images.AddRange(GeneratedImageWriter.ToImages(generated).Select(i => (scenes[k], i)));
            report?.Invoke(k + 1, scenes.Count);
        }
        var sampler = new ToySceneSampler(seed + 104729);
        var renders = Enumerable.Range(0, 200).Select(_ => sampler.Next()).Select(s => (s, ToyRenderer.Render(s, classifier.ImageSize))).ToList();
        return new ToyBaseRates(Score(classifier, images), Score(classifier, renders), images.Select(i => i.Image).ToList());
    }

    private static ToyFactorRates Score(ToyClassifier classifier, IReadOnlyList<(ToyScene Scene, RgbImage Image)> images)
    {
        var shapes = classifier.Classify([.. images.Select(i => i.Image)]);
        var shapeOk = images.Select((x, i) => shapes[i] == (ToyLabel)(int)x.Scene.Shape).ToList();
        var backgroundOk = images.Select(x => ToyMetrics.BorderColor(x.Image) == x.Scene.Background).ToList();
        var colorOk = images.Select(x => ToyMetrics.ObjectColor(x.Image) == x.Scene.ObjectColor).ToList();
        double Rate(IEnumerable<bool> ok) => ok.Count(b => b) / (double)images.Count;
        var perShape = Enum.GetValues<ToyShape>().ToDictionary(s => s, s =>
        {
            var of = images.Select((x, i) => (x, i)).Where(p => p.x.Scene.Shape == s).Select(p => shapeOk[p.i]).ToList();
            return of.Count == 0 ? double.NaN : of.Count(b => b) / (double)of.Count;
        });
        return new ToyFactorRates(images.Count, Rate(shapeOk), Rate(colorOk), Rate(backgroundOk),
                                  Rate(shapeOk.Select((ok, i) => ok && colorOk[i] && backgroundOk[i])), perShape);
    }
}

/// <summary>Shares of images whose shape, object colour and background match their caption (and all three at once).</summary>
public sealed record ToyFactorRates(int Images, double Shape, double ObjectColor, double Background, double All, IReadOnlyDictionary<ToyShape, double> ShapeByClass)
{
    public JsonObject ToJson()
    {
        var byShape = new JsonObject();
        foreach (var (shape, rate) in ShapeByClass) byShape[shape.ToString().ToLowerInvariant()] = Math.Round(rate, 4);
        return new JsonObject
        {
            ["images"] = Images, ["shape"] = Math.Round(Shape, 4), ["object_color"] = Math.Round(ObjectColor, 4),
            ["background"] = Math.Round(Background, 4), ["all_three"] = Math.Round(All, 4), ["shape_by_class"] = byShape,
        };
    }
}

/// <summary>The base model's rates, the same readers' rates on clean renders, and the generated images (caption order).</summary>
public sealed record ToyBaseRates(ToyFactorRates Generated, ToyFactorRates OnRenders, IReadOnlyList<RgbImage> Images);
