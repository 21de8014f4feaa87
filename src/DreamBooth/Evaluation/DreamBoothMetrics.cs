// The DreamBooth paper's evaluation metrics (Ruiz et al. 2023, section 4.1), computed on embeddings.
namespace DreamBooth.Evaluation;

/// <summary>
/// Cosine-similarity metrics over un-normalised embeddings (cosine = a·b / (|a| |b|)). DINO and CLIP-I measure
/// subject fidelity, CLIP-T prompt fidelity, PRES prior preservation (lower is better: class images that look like
/// the subject mean the prior drifted), DIV diversity among images of one prompt (higher is more diverse).
/// </summary>
public static class DreamBoothMetrics
{
    /// <summary>a·b / (|a| |b|), in double; 0 when either vector is zero.</summary>
    public static double Cosine(IReadOnlyList<float> a, IReadOnlyList<float> b)
    {
        if (a.Count != b.Count) throw new ArgumentException($"Embeddings of different sizes ({a.Count}, {b.Count}).");
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Count; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return na == 0 || nb == 0 ? 0 : dot / Math.Sqrt(na * nb);
    }

    /// <summary>
    /// Mean cosine over every (generated, real) pair: DINO with DINO embeddings, CLIP-I with CLIP image embeddings,
    /// PRES with the DINO embeddings of class-prompt generations.
    /// </summary>
    public static double MeanCrossCosine(IReadOnlyList<float[]> generated, IReadOnlyList<float[]> real)
    {
        if (generated.Count == 0 || real.Count == 0) throw new ArgumentException("Both image sets must be non-empty.");
        return generated.SelectMany(g => real.Select(r => Cosine(g, r))).Average();
    }

    /// <summary>CLIP-T: mean cosine between each generated image's CLIP embedding and its own prompt's text embedding.</summary>
    public static double MeanPairedCosine(IReadOnlyList<float[]> images, IReadOnlyList<float[]> texts)
    {
        if (images.Count == 0 || images.Count != texts.Count)
            throw new ArgumentException($"Need one text per image ({images.Count} images, {texts.Count} texts).");
        return images.Zip(texts, Cosine).Average();
    }

    /// <summary>
    /// DIV substitute: 1 − the mean cosine over all unordered pairs of images within each group (a group = one prompt's
    /// images over the seeds), pooled over groups. The paper uses LPIPS distances; this uses DINO embeddings instead.
    /// Null when no group has two images.
    /// </summary>
    public static double? Diversity(IEnumerable<IReadOnlyList<float[]>> groups)
    {
        var cosines = new List<double>();
        foreach (var group in groups)
            for (var i = 0; i < group.Count; i++)
                for (var j = i + 1; j < group.Count; j++)
                    cosines.Add(Cosine(group[i], group[j]));
        return cosines.Count == 0 ? null : 1 - cosines.Average();
    }
}
