namespace DreamBooth.Tests.Training;

using DreamBooth.Data;
using DreamBooth.Imaging;
using DreamBooth.Training;

/// <summary>What each example of the dataset trains on: per-image captions, the prompt as fallback, several concepts.</summary>
public sealed class DreamBoothDatasetTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("dataset").FullName;

    public void Dispose() => Directory.Delete(root, true);

    private string Folder(string name, params string[] images)
    {
        var dir = Path.Combine(root, name);
        Directory.CreateDirectory(dir);
        byte shade = 10;
        foreach (var image in images) PngWriter.Write(Path.Combine(dir, image), RgbImage.Filled(16, 16, shade += 40, 0, 0));
        return dir;
    }

    private static DreamBoothDataset Dataset(string dir, string prompt = "a photo of sks dog", string extension = ".txt", string? identifier = null,
                                             string? classNoun = null, List<string>? warnings = null) =>
        new([new Concept(dir, prompt, Identifier: identifier, ClassNoun: classNoun)],
            new DatasetOptions(16, CenterCrop: true, CaptionExtension: extension), warnings is null ? null : warnings.Add);

    private static string[] Prompts(DreamBoothDataset data) => Enumerable.Range(0, data.InstanceCount).Select(data.InstancePrompt).ToArray();

    [Fact]
    public void NoCaptions_EveryImageTrainsOnTheInstancePrompt()
    {
        var data = Dataset(Folder("plain", "a.png", "b.png"));
        Assert.Equal(["a photo of sks dog", "a photo of sks dog"], Prompts(data));
        Assert.Equal(0, data.Captioned);
        Assert.Equal(["a photo of sks dog"], data.Prompts);
    }

    [Fact]
    public void SidecarThenMetadataThenPrompt_InThatOrder()
    {
        var dir = Folder("mixed", "a.png", "b.png", "c.png", "d.png");
        File.WriteAllText(Path.Combine(dir, "a.txt"), "  sks dog asleep on a sofa\n");
        File.WriteAllLines(Path.Combine(dir, ImageCaptions.MetadataFile),
        [
            """{"file_name": "a.png", "text": "not used: a.txt wins"}""",
            "",
            """{"file_name": "b.png", "text": "sks dog in the snow", "extra": 1}""",
            """{"file_name": "c.png", "text": "sks dog on a beach"}""",
        ]);
        var warnings = new List<string>();
        var data = Dataset(dir, warnings: warnings);
        Assert.Equal(["sks dog asleep on a sofa", "sks dog in the snow", "sks dog on a beach", "a photo of sks dog"], Prompts(data));
        Assert.Equal(3, data.Captioned);
        Assert.Empty(warnings);   // the caption files are not "not an image" files
    }

    [Fact]
    public void CaptionExtension_ChoosesTheSidecar_OtherTextFilesAreSkippedWithANotice()
    {
        var dir = Folder("kohya", "a.png", "b.png");
        File.WriteAllText(Path.Combine(dir, "a.caption"), "sks dog, kohya style");
        File.WriteAllText(Path.Combine(dir, "b.txt"), "not read with .caption");
        var warnings = new List<string>();
        var data = Dataset(dir, extension: ".caption", warnings: warnings);
        Assert.Equal(["sks dog, kohya style", "a photo of sks dog"], Prompts(data));
        Assert.Equal([Path.Combine(dir, "b.txt") + ": not an image format we read; skipped."], warnings);
    }

    [Fact]
    public void Placeholders_FilledFromTheConcept()
    {
        var dir = Folder("placeholders", "a.png");
        File.WriteAllText(Path.Combine(dir, "a.txt"), "a photo of {identifier} {class}, {identifier} asleep");
        Assert.Equal(["a photo of sks dog, sks asleep"], Prompts(Dataset(dir, identifier: "sks", classNoun: "dog")));
    }

    [Theory]
    [InlineData("a {identifier} dog", null, "dog", "a.txt: the caption uses {identifier}, which is not set; set --identifier (e.g. --identifier sks), or identifier / class_noun in the concept.")]
    [InlineData("a sks {class}", "sks", " ", "a.txt: the caption uses {class}, which is not set; set --class-noun (e.g. --class-noun dog), or identifier / class_noun in the concept.")]
    [InlineData("a {identifer} dog", "sks", "dog", "a.txt: unknown placeholder {identifer}; captions may use {identifier} and {class}.")]
    [InlineData(" \n", "sks", "dog", "a.txt: empty caption for a.png; write one, or remove it to train that image on the prompt.")]
    public void BadCaption_OneLineErrorNamingTheFile(string caption, string? identifier, string? classNoun, string expected)
    {
        var dir = Folder("bad", "a.png");
        File.WriteAllText(Path.Combine(dir, "a.txt"), caption);
        var e = Assert.Throws<DreamBoothException>(() => Dataset(dir, identifier: identifier, classNoun: classNoun));
        Assert.Equal(Path.Combine(dir, expected), e.Message);
    }

    [Theory]
    [InlineData("""{"file_name": "a.png", "text": "x"}""", "{nope", "line 2: not valid JSON")]
    [InlineData("""["a.png", "x"]""", "", "line 1: expected an object with file_name and text.")]
    [InlineData("""{"text": "x"}""", "", "line 1: no file_name.")]
    [InlineData("""{"file_name": "a.png"}""", "", "line 1: no text (the caption) for a.png.")]
    [InlineData("""{"file_name": "a.png", "text": 3}""", "", "line 1: text must be text.")]
    [InlineData("""{"file_name": "z.png", "text": "x"}""", "", "line 1: z.png is not a file in ")]
    [InlineData("""{"file_name": "a.png", "text": "x"}""", """{"file_name": "a.png", "text": "y"}""", "line 2: a.png has a caption on an earlier line too.")]
    [InlineData("""{"file_name": "a.png", "text": ""}""", "", "line 1: empty caption for a.png")]
    public void BadMetadata_OneLineErrorNamingTheLine(string line1, string line2, string expected)
    {
        var dir = Folder("meta", "a.png");
        var file = Path.Combine(dir, ImageCaptions.MetadataFile);
        File.WriteAllLines(file, [line1, line2]);
        var e = Assert.Throws<DreamBoothException>(() => Dataset(dir));
        Assert.StartsWith($"{file} {expected}", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void TwoConcepts_OnePoolOfInstancesEachWithItsPrompt_ClassImagesPairedByIndex()
    {
        var a = Folder("a", "1.png", "2.png");
        var b = Folder("b", "1.png", "2.png", "3.png");
        File.WriteAllText(Path.Combine(b, "3.txt"), "{identifier} {class} on a bed");
        var classA = Folder("class-a", "1.png", "2.png", "3.png");
        var classB = Folder("class-b", "1.png", "2.png");
        var data = new DreamBoothDataset(
        [
            new Concept(a, "a photo of sks dog", classA, "a photo of dog"),
            new Concept(b, "a photo of zwx cat", classB, "a photo of cat", "zwx", "cat"),
        ], new DatasetOptions(16, CenterCrop: true, MaxClassImages: 2));
        Assert.Equal(["a photo of sks dog", "a photo of sks dog", "a photo of zwx cat", "a photo of zwx cat", "zwx cat on a bed"], Prompts(data));
        Assert.Equal(4, data.ClassCount);                          // the first two of each concept's class folder
        Assert.Equal(5, data.Count);
        Assert.Equal(["a photo of sks dog", "a photo of zwx cat", "zwx cat on a bed", "a photo of dog", "a photo of cat"], data.Prompts);
        var (instance, cls) = data.Get(2, null);
        Assert.Equal(("a photo of zwx cat", "a photo of cat"), (instance.Prompt, cls!.Prompt));
        (instance, cls) = data.Get(4, null);
        Assert.Equal(("zwx cat on a bed", "a photo of dog"), (instance.Prompt, cls!.Prompt));
        // The pixels follow: instance 2 is b's first photo.
        Assert.True(data.Get(2, null).Instance.Pixels.equal(new DreamBoothDataset([new Concept(b, "p", Identifier: "zwx", ClassNoun: "cat")], new DatasetOptions(16, CenterCrop: true)).Get(0, null).Instance.Pixels).all().item<bool>());
    }
}
