namespace DreamBooth.ToyWorld;

using DreamBooth.Evaluation;
using DreamBooth.Imaging;
using DreamBooth.Models.Clip;
using DreamBooth.Torch;
using static TorchSharp.torch;

/// <summary>
/// How well a CLIP knows the toy world, zero-shot on renders it was not trained on. Accuracies: the share of scenes
/// whose true caption is the closest of the candidates that differ from it in one factor (the shape, the object
/// colour, the background), of bare class prompts ("a photo of a cup"), and for the subject, of its colour caption
/// against plain boxes of every colour on the same background. <see cref="SubjectToSubject"/> and
/// <see cref="BoxToSubject"/> are what CLIP-I sees: the mean image–image cosine of subject renders to each other
/// (other renders) and of plain boxes to subject renders. <see cref="ContextMatched"/> and <see cref="ContextOther"/>
/// are what CLIP-T sees: the mean cosine of subject renders to the class prompt of their own background ("a photo of
/// a box on a gray background") and to those of the other backgrounds (an over-trained model that ignores the
/// prompt's background scores towards the second).
/// </summary>
public sealed record ToyClipScores(double ShapeAccuracy, double ColourAccuracy, double BackgroundAccuracy, double NounAccuracy,
                                   double SubjectAccuracy, double SubjectToSubject, double BoxToSubject, double ContextMatched, double ContextOther);

/// <summary>Measures <see cref="ToyClipScores"/> from image and text embeddings (e.g. <see cref="EvaluationModels"/>' CLIP ones).</summary>
public static class ToyClipProbe
{
    /// <param name="embedImages">One embedding per image (CLIP's get_image_features).</param>
    /// <param name="embedTexts">One embedding per text (get_text_features).</param>
    /// <param name="seed">Seeds the probe's scenes; use another than the training run's.</param>
    /// <param name="scenes">Ordinary scenes for the accuracies.</param>
    /// <param name="subjects">Subject renders and plain boxes (each) for the subject scores.</param>
    public static ToyClipScores Measure(Func<IReadOnlyList<RgbImage>, IReadOnlyList<float[]>> embedImages,
                                        Func<IReadOnlyList<string>, IReadOnlyList<float[]>> embedTexts,
                                        int seed, int scenes = 300, int subjects = 40, int imageSize = 32)
    {
        var world = new ToySceneSampler(seed);
        var random = new Random(seed);
        var subject = new ToySubject();
        var ordinary = Enumerable.Range(0, scenes).Select(_ => world.Next()).ToList();
        var subjectScenes = Enumerable.Range(0, subjects).Select(_ =>
        {
            var background = ToyPalette.BackgroundColors[random.Next(ToyPalette.BackgroundColors.Count)];
            var (size, x, y) = ToySceneSampler.Placement(random);
            return subject.Scene(background, size, x, y);
        }).ToList();
        var boxes = Enumerable.Range(0, subjects).Select(_ => world.Next() with { Shape = ToyShape.Box }).ToList();

        var all = ordinary.Concat(subjectScenes).Concat(boxes).ToList();
        var images = embedImages([.. all.Select(s => ToyRenderer.Render(s, imageSize))]);
        var ordinaryImages = images.Take(scenes).ToList();
        var subjectImages = images.Skip(scenes).Take(subjects).ToList();
        var boxImages = images.Skip(scenes + subjects).ToList();

        // Candidate captions per scene and factor; the first candidate is the true one.
        static string Full(ToyScene s) => s.Caption;
        var shapeSets = ordinary.Select(s => Candidates(s, Enum.GetValues<ToyShape>().Select(v => Full(s with { Shape = v })))).ToList();
        var colourSets = ordinary.Select(s => Candidates(s, ToyPalette.ObjectColors.Select(c => Full(s with { ObjectColor = c })))).ToList();
        var backgroundSets = ordinary.Select(s => Candidates(s, ToyPalette.BackgroundColors.Select(b => Full(s with { Background = b })))).ToList();
        var nounSets = ordinary.Select(s => Candidates(s.Describe(false, false),
            Enum.GetValues<ToyShape>().Select(v => (s with { Shape = v }).Describe(false, false)))).ToList();
        var subjectSets = subjectScenes.Select(s => Candidates(s, ToyPalette.ObjectColors.Select(c => Full(s with { ObjectColor = c, CheckerColor = null })))).ToList();

        var contexts = ToyPalette.BackgroundColors.ToDictionary(b => b, b => (subjectScenes[0] with { Background = b }).Describe(colours: false, background: true));
        var texts = shapeSets.Concat(colourSets).Concat(backgroundSets).Concat(nounSets).Concat(subjectSets).SelectMany(c => c)
                             .Concat(contexts.Values).Distinct().ToList();
        var embedded = texts.Zip(embedTexts(texts)).ToDictionary(p => p.First, p => p.Second);

        double Accuracy(IReadOnlyList<float[]> imageEmbeddings, List<List<string>> sets) =>
            imageEmbeddings.Zip(sets).Count(p =>
            {
                var scores = p.Second.Select(t => DreamBoothMetrics.Cosine(p.First, embedded[t])).ToList();
                return scores.IndexOf(scores.Max()) == 0;
            }) / (double)sets.Count;

        var matched = subjectImages.Zip(subjectScenes, (image, scene) => DreamBoothMetrics.Cosine(image, embedded[contexts[scene.Background]])).Average();
        var other = subjectImages.Zip(subjectScenes, (image, scene) => contexts.Where(c => c.Key != scene.Background)
                                                                              .Average(c => DreamBoothMetrics.Cosine(image, embedded[c.Value]))).Average();
        double subjectToSubject = subjectImages.SelectMany((a, i) => subjectImages.Where((_, j) => j != i).Select(b => DreamBoothMetrics.Cosine(a, b))).Average();
        return new ToyClipScores(
            Accuracy(ordinaryImages, shapeSets), Accuracy(ordinaryImages, colourSets), Accuracy(ordinaryImages, backgroundSets),
            Accuracy(ordinaryImages, nounSets), Accuracy(subjectImages, subjectSets),
            subjectToSubject, DreamBoothMetrics.MeanCrossCosine(boxImages, subjectImages), matched, other);
    }

    /// <summary>Loads a CLIPModel folder as the evaluation does (model, tokenizer and image processor from the folder) and measures it.</summary>
    public static ToyClipScores Measure(string clipFolder, int seed, int scenes = 300, int subjects = 40, int imageSize = 32)
    {
        TorchRuntime.EnsureLoaded();
        using var model = CLIPModel.FromPretrained(clipFolder);
        var tokenizer = CLIPTokenizer.FromFolder(clipFolder);
        var processor = CLIPImageProcessor.FromPretrained(clipFolder);
        return Measure(
            images => Rows(() => model.GetImageFeatures(processor.Preprocess(images))),
            texts => Rows(() => model.GetTextFeatures(tokenizer.EncodeBatch(texts).InputIds)),
            seed, scenes, subjects, imageSize);
    }

    // The true caption first, then the other candidates (without repeating it).
    private static List<string> Candidates(ToyScene scene, IEnumerable<string> candidates) => Candidates(scene.Caption, candidates);

    private static List<string> Candidates(string truth, IEnumerable<string> candidates) => [truth, .. candidates.Where(c => c != truth).Distinct()];

    private static List<float[]> Rows(Func<Tensor> features)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var cpu = features().to(ScalarType.Float32, CPU).contiguous();
        int dim = (int)cpu.shape[1];
        var data = cpu.data<float>().ToArray();
        return [.. Enumerable.Range(0, (int)cpu.shape[0]).Select(r => data.AsSpan(r * dim, dim).ToArray())];
    }
}
