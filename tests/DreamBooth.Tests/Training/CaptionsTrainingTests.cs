namespace DreamBooth.Tests.Training;

using DreamBooth.Data;
using DreamBooth.Imaging;
using DreamBooth.IO;
using DreamBooth.Training;
using static TorchSharp.torch;

/// <summary>Short runs on the tiny SD 1.x pipeline showing that captions, and a concepts list, reach the training step.</summary>
[Collection(TrainingRuns.Name)]
public sealed class CaptionsTrainingTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("captions-run").FullName;

    public void Dispose()
    {
        try { Directory.Delete(root, true); } catch (IOException) { }
    }

    private string Images(string name, int count, int seed)
    {
        var dir = Path.Combine(root, name);
        Directory.CreateDirectory(dir);
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            var image = new RgbImage(40, 40);
            random.NextBytes(image.Pixels);
            PngWriter.Write(Path.Combine(dir, $"{i:D2}.png"), image);
        }
        return dir;
    }

    private string Copy(string from, string name)
    {
        var dir = Directory.CreateDirectory(Path.Combine(root, name)).FullName;
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        return dir;
    }

    private TrainOptions Options(string instanceDir, string output) => new()
    {
        InstanceDataDir = instanceDir,
        InstancePrompt = "a photo of sks dog",
        Resolution = 32,
        RandomFlip = true,
        SortFiles = true,                  // the same order in every copy of the folder
        TrainBatchSize = 2,
        GradientAccumulationSteps = 1,
        MaxTrainSteps = 2,
        CheckpointingSteps = 100,
        Seed = 11,
        OutputDir = Path.Combine(root, output),
    };

    private static Dictionary<string, Tensor> Weights(TrainResult result)
    {
        using var f = SafeTensorsFile.Open(result.WeightsFile!);
        return f.Tensors.ToDictionary(t => t.Name, t => f.Read(t.Name));
    }

    private static bool Same(TrainResult a, TrainResult b)
    {
        var (x, y) = (Weights(a), Weights(b));
        return x.Keys.Order().SequenceEqual(y.Keys.Order()) && x.All(kv => kv.Value.equal(y[kv.Key]).all().item<bool>());
    }

    private static double FirstLoss(TrainOptions o) => TrainingLog.Read(Path.Combine(o.OutputDir, DreamBoothTrainer.LogFile))[0].Loss;

    private static TrainResult Run(TrainOptions o) => new DreamBoothTrainer(o, Fixtures.Path("sd15-tiny")).Run();

    [Fact]
    public void Captions_ReplaceThePromptPerImage_FromSidecarsOrMetadataAlike()
    {
        var photos = Images("photos", 3, 1);
        var plainOptions = Options(photos, "plain");
        var plain = Run(plainOptions);

        // Captions that say what the prompt says: the very same run, bit for bit.
        var same = Copy(photos, "same");
        foreach (var image in Directory.GetFiles(same, "*.png")) File.WriteAllText(Path.ChangeExtension(image, ".txt"), "a photo of sks dog\n");
        Assert.True(Same(plain, Run(Options(same, "same-out"))), "captions equal to the prompt changed the run");

        // Captions of their own: sidecars (with placeholders) and metadata.jsonl rows train the same, and differently.
        string[] captions = ["sks dog asleep on a sofa", "sks dog in the snow", "a photo of sks dog"];
        var sidecars = Copy(photos, "sidecars");
        for (int i = 0; i < 3; i++) File.WriteAllText(Path.Combine(sidecars, $"{i:D2}.txt"), captions[i].Replace("sks", "{identifier}").Replace("dog", "{class}"));
        var sidecarOptions = Options(sidecars, "sidecars-out") with { Identifier = "sks", ClassNoun = "dog" };
        var fromSidecars = Run(sidecarOptions);
        var metadata = Copy(photos, "metadata");
        File.WriteAllLines(Path.Combine(metadata, ImageCaptions.MetadataFile),
                           captions.Select((c, i) => $$"""{"file_name": "{{i:D2}}.png", "text": "{{c}}"}"""));
        Assert.True(Same(fromSidecars, Run(Options(metadata, "metadata-out"))), "metadata.jsonl and sidecar captions trained differently");
        Assert.NotEqual(FirstLoss(plainOptions), FirstLoss(sidecarOptions));
        Assert.False(Same(plain, fromSidecars), "the captions did not reach the step");
    }

    [Fact]
    public void Captions_WithATrainedTextEncoder_EncodedPerBatch()
    {
        var photos = Images("te-photos", 2, 3);
        File.WriteAllText(Path.Combine(photos, "00.txt"), "sks dog in the snow");
        var captioned = Options(photos, "te-captioned") with { TrainTextEncoder = true };
        var plain = Options(Images("te-plain", 2, 3), "te-plain-out") with { TrainTextEncoder = true };
        Assert.False(Same(Run(plain), Run(captioned)));
        Assert.NotEqual(FirstLoss(plain), FirstLoss(captioned));
    }

    [Fact]
    public void ConceptsList_OneConcept_TheSameRunAsTheInstanceAndClassOptions()
    {
        var photos = Images("one-photos", 3, 5);
        var classes = Images("one-classes", 2, 6);
        var o = Options(photos, "one-plain") with { WithPriorPreservation = true, ClassDataDir = classes, ClassPrompt = "a photo of dog", NumClassImages = 2 };
        var list = Path.Combine(root, "one.json");
        File.WriteAllText(list, $$"""[{"instance_prompt": "a photo of sks dog", "instance_data_dir": "{{photos}}", "class_prompt": "a photo of dog", "class_data_dir": "{{classes}}"}]""");
        var fromList = o with { ConceptsList = list, InstanceDataDir = null, InstancePrompt = null, ClassDataDir = null, ClassPrompt = null, OutputDir = Path.Combine(root, "one-list") };
        Assert.True(Same(Run(o), Run(fromList)));
    }

    // Solid-colour photos with a little noise, named PREFIX-NN.png.
    private static void Photos(string dir, string prefix, byte level, int count)
    {
        Directory.CreateDirectory(dir);
        var random = new Random(level);
        for (int i = 0; i < count; i++)
        {
            var image = new RgbImage(40, 40);
            for (int p = 0; p < image.Pixels.Length; p++) image.Pixels[p] = (byte)Math.Clamp(level + random.Next(-8, 9), 0, 255);
            PngWriter.Write(Path.Combine(dir, $"{prefix}-{i:D2}.png"), image);
        }
    }

    // Two subjects, dark and light photos, each with its identifier. The run must train every photo on its own
    // concept's prompt: exactly the run over one folder of all the photos captioned with those prompts (whose
    // per-image prompts the caption tests establish), and not the run with the identifiers swapped.
    [Fact]
    public void ConceptsList_TwoIdentifiers_EachTrainsOnItsOwnPhotos()
    {
        var (dark, light, all) = (Path.Combine(root, "dark"), Path.Combine(root, "light"), Path.Combine(root, "all"));
        Photos(dark, "a", 20, 3);
        Photos(light, "b", 235, 3);
        Photos(all, "a", 20, 3);
        Photos(all, "b", 235, 3);
        const string Sks = "a photo of sks thing", Zwx = "a photo of zwx thing";
        foreach (var image in Directory.GetFiles(all, "*.png"))
            File.WriteAllText(Path.ChangeExtension(image, ".txt"), Path.GetFileName(image).StartsWith('a') ? Sks : Zwx);
        TrainOptions Concepts(string name, string darkPrompt, string lightPrompt)
        {
            var list = Path.Combine(root, name + ".json");
            File.WriteAllText(list, $$"""
                [{"instance_prompt": "{{darkPrompt}}", "instance_data_dir": "{{dark}}"},
                 {"instance_prompt": "{{lightPrompt}}", "instance_data_dir": "{{light}}"}]
                """);
            return Options(all, name) with { ConceptsList = list, InstanceDataDir = null, InstancePrompt = null, MaxTrainSteps = 3 };
        }

        var concepts = Run(Concepts("two", Sks, Zwx));
        var captioned = Run(Options(all, "captioned") with { InstancePrompt = "not used", MaxTrainSteps = 3 });
        Assert.True(Same(concepts, captioned), "the concepts list did not train each photo on its concept's prompt");
        Assert.False(Same(concepts, Run(Concepts("swapped", Zwx, Sks))), "swapping the identifiers left the run unchanged");
    }

    [Fact]
    public void ConceptsList_MissingClassImages_GeneratedPerConceptFromItsClassPrompt()
    {
        var (dogs, cats) = (Images("dogs", 2, 7), Images("cats", 2, 8));
        var (dogClass, catClass) = (Path.Combine(root, "dog-class"), Path.Combine(root, "cat-class"));
        var list = Path.Combine(root, "pets.yaml");
        File.WriteAllText(list, $"""
            - instance_prompt: a photo of sks dog
              instance_data_dir: {dogs}
              class_prompt: a photo of dog
              class_data_dir: {dogClass}
            - instance_prompt: a photo of zwx cat
              instance_data_dir: {cats}
              class_prompt: a photo of cat
              class_data_dir: {catClass}
            """);
        var o = new TrainOptions
        {
            ConceptsList = list, WithPriorPreservation = true, NumClassImages = 2, SampleBatchSize = 2, ClassInferenceSteps = 2,
            Resolution = 32, TrainBatchSize = 1, GradientAccumulationSteps = 1, MaxTrainSteps = 1, Seed = 3, OutputDir = Path.Combine(root, "pets-out"),
        };
        Run(o);
        foreach (var (dir, prompt) in new[] { (dogClass, "a photo of dog"), (catClass, "a photo of cat") })
        {
            var files = Directory.GetFiles(dir, "*.png");
            Assert.Equal(2, files.Length);
            Assert.All(files, f => Assert.StartsWith(prompt, PngText.Read(f)["parameters"]));
        }
        var card = File.ReadAllText(Path.Combine(o.OutputDir, "README.md"));
        Assert.Contains("on 2 concepts", card);
        Assert.Contains("**a photo of zwx cat**", card);
    }
}
