namespace DreamBooth.ToyWorld;

using DreamBooth.Imaging;
using static TorchSharp.torch;

/// <summary>
/// A small CNN that names what a toy image shows (<see cref="ToyLabel"/>). It learns from the world's own renderer,
/// whose factors are known, so no labelled photos are needed; the metrics of <see cref="ToyMetrics"/> ask it whether a
/// generated image shows the subject.
/// </summary>
public sealed class ToyClassifier : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> network;

    private ToyClassifier(nn.Module<Tensor, Tensor> network, int imageSize)
    {
        this.network = network;
        ImageSize = imageSize;
    }

    /// <summary>The image side it was trained at.</summary>
    public int ImageSize { get; }

    /// <summary>Share of held-out clean renders it labels correctly.</summary>
    public double Accuracy { get; private set; }

    /// <summary>Trains a classifier (same options → same weights and accuracy).</summary>
    public static ToyClassifier Train(ToyClassifierOptions? options = null, IProgress<(int Step, int Steps, double Loss)>? progress = null,
                                      CancellationToken cancel = default)
    {
        var o = (options ?? new ToyClassifierOptions()).Validated();
        var generator = new Generator((ulong)o.Seed);
        nn.Module<Tensor, Tensor> network;
        using (var init = new Generator((ulong)o.Seed + 1))
        {
            // Weights drawn from a private generator: training must not depend on (or disturb) torch's global one.
            network = Network(o.ImageSize);
            using (no_grad())
                foreach (var p in network.parameters())
                    p.copy_(p.dim() > 1 ? randn(p.shape, generator: init) * Math.Sqrt(2.0 / (p.numel() / p.shape[0])) : zeros_like(p));
        }
        var sampler = new ToySceneSampler(o.Seed);
        var random = new Random(o.Seed);
        using var optimizer = optim.Adam(network.parameters(), o.LearningRate);
        network.train();
        for (int step = 1; step <= o.Steps; step++)
        {
            cancel.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var (images, labels) = Batch(sampler, random, o.BatchSize, o.SubjectShare, o.ImageSize);
            // Half the batch blurred: generated images are softer than renders, and a judge trained on sharp edges
            // alone calls most soft shapes "box" (a base model's clear stars were read as boxes).
            var blurred = where(rand([images.shape[0], 1, 1, 1], generator: generator) < o.BlurShare, Blur(images), images);
            var input = (blurred + o.Noise * randn(images.shape, generator: generator)).clamp(0, 1);
            var loss = nn.functional.cross_entropy(network.forward(Normalize(input)), labels);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            if (step % 25 == 0 || step == o.Steps) progress?.Report((step, o.Steps, loss.item<float>()));
        }
        network.eval();
        generator.Dispose();
        var classifier = new ToyClassifier(network, o.ImageSize);
        // Held-out: another seed's stream, clean renders.
        var (testImages, testLabels) = Samples(new ToySceneSampler(o.Seed + 7919), new Random(o.Seed + 7919), o.TestImages, o.SubjectShare, o.ImageSize);
        var predicted = classifier.Classify(testImages);
        classifier.Accuracy = predicted.Zip(testLabels).Count(p => p.First == p.Second) / (double)testLabels.Count;
        return classifier;
    }

    /// <summary>The label of each image (each must be <see cref="ImageSize"/> square).</summary>
    public IReadOnlyList<ToyLabel> Classify(IReadOnlyList<RgbImage> images)
    {
        var labels = new List<ToyLabel>(images.Count);
        foreach (var chunk in images.Chunk(64))
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            foreach (var image in chunk)
                if (image.Width != ImageSize || image.Height != ImageSize)
                    throw new DreamBoothException($"The toy classifier was trained on {ImageSize}×{ImageSize} images, not {image.Width}×{image.Height}.");
            var batch = stack(chunk.Select(i => i.ToTensor()).ToArray());
            var best = network.forward(Normalize(batch)).argmax(1).data<long>().ToArray();
            labels.AddRange(best.Select(b => (ToyLabel)b));
        }
        return labels;
    }

    public void Dispose() => network.Dispose();

    private static Tensor Normalize(Tensor pixels) => pixels * 2 - 1;

    // A 5×5 Gaussian blur (sigma 1 pixel at 32×32, scaled with the image) per channel, edges replicated.
    private static Tensor Blur(Tensor images)
    {
        double sigma = images.shape[^1] / 32.0;
        var x = arange(-2, 3, dtype: ScalarType.Float32);
        var g = exp(-x.square() / (2 * sigma * sigma));
        g = g / g.sum();
        var kernel = outer(g, g).expand(3, 1, 5, 5).contiguous();
        var padded = nn.functional.pad(images, [2, 2, 2, 2], TorchSharp.PaddingModes.Replicate);
        return nn.functional.conv2d(padded, kernel, groups: 3);
    }

    // Three conv blocks halve the side each time; a linear layer reads the result.
    private static nn.Module<Tensor, Tensor> Network(int imageSize)
    {
        int side = imageSize / 8;
        return nn.Sequential(
            nn.Conv2d(3, 16, 3, padding: 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding: 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding: 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * side * side, Enum.GetValues<ToyLabel>().Length));
    }

    private static (Tensor Images, Tensor Labels) Batch(ToySceneSampler sampler, Random random, int count, double subjectShare, int size)
    {
        var (images, labels) = Samples(sampler, random, count, subjectShare, size);
        return (stack(images.Select(i => i.ToTensor()).ToArray()), tensor(labels.Select(l => (long)l).ToArray()));
    }

    private static (IReadOnlyList<RgbImage> Images, IReadOnlyList<ToyLabel> Labels) Samples(ToySceneSampler sampler, Random random, int count,
                                                                                          double subjectShare, int size)
    {
        var subject = new ToySubject();
        var images = new List<RgbImage>(count);
        var labels = new List<ToyLabel>(count);
        for (int i = 0; i < count; i++)
        {
            if (random.NextDouble() < subjectShare)
            {
                var background = ToyPalette.BackgroundColors[random.Next(ToyPalette.BackgroundColors.Count)];
                var (s, x, y) = ToySceneSampler.Placement(random);
                images.Add(ToyRenderer.Render(subject.Scene(background, s, x, y), size));
                labels.Add(ToyLabel.Subject);
            }
            else
            {
                var scene = sampler.Next();
                images.Add(ToyRenderer.Render(scene, size));
                labels.Add((ToyLabel)(int)scene.Shape);
            }
        }
        return (images, labels);
    }
}
