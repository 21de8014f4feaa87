namespace DreamBooth.Tests.Training;

using DreamBooth.Training;

/// <summary>--concepts-list: the file's format, its one-line errors, and how it replaces the instance and class options.</summary>
public sealed class ConceptsListTests : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("concepts").FullName;

    public void Dispose() => Directory.Delete(root, true);

    private string Dir(string name) => Directory.CreateDirectory(Path.Combine(root, name)).FullName;

    private string Write(string name, string text)
    {
        var path = Path.Combine(root, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void LoadList_JsonAsTheForksWriteIt()
    {
        var (a, b, ca, cb) = (Dir("a"), Dir("b"), Path.Combine(root, "ca"), Path.Combine(root, "cb"));
        var path = Write("concepts.json", $$"""
            [
              {"instance_prompt": "photo of sks dog", "class_prompt": "photo of a dog", "instance_data_dir": "{{a}}", "class_data_dir": "{{ca}}"},
              {"instance_prompt": "photo of zwx cat", "class_prompt": "photo of a cat", "instance_data_dir": "{{b}}", "class_data_dir": "{{cb}}",
               "identifier": "zwx", "class_noun": "cat"}
            ]
            """);
        Assert.Equal(
            [new Concept(a, "photo of sks dog", ca, "photo of a dog"), new Concept(b, "photo of zwx cat", cb, "photo of a cat", "zwx", "cat")],
            Concept.LoadList(path, withClasses: true));
        // Without prior preservation the class entries are not used.
        Assert.Equal([null, null], Concept.LoadList(path, withClasses: false).Select(c => c.ClassDataDir));
    }

    [Fact]
    public void LoadList_YamlWithKebabKeys()
    {
        var a = Dir("a");
        var path = Write("concepts.yaml", $"""
            - instance-prompt: a photo of sks dog
              instance-data-dir: {a}
            """);
        Assert.Equal([new Concept(a, "a photo of sks dog")], Concept.LoadList(path, withClasses: false));
    }

    [Theory]
    [InlineData("concepts.json", """{"instance_prompt": "x"}""", "expected a list of concepts")]
    [InlineData("concepts.json", """[]""", "the list holds no concepts.")]
    [InlineData("concepts.json", """["x"]""", "concept 1: expected a mapping with instance_prompt and instance_data_dir.")]
    [InlineData("concepts.json", """[{"instance_promt": "x", "instance_data_dir": "A"}]""", "concept 1: unknown key 'instance_promt' (did you mean 'instance_prompt'?).")]
    [InlineData("concepts.json", """[{"instance_prompt": "x", "instance_data_dir": "A"}, {"instance_data_dir": "A"}]""", "concept 2: instance_prompt is required.")]
    [InlineData("concepts.json", """[{"instance_prompt": 3, "instance_data_dir": "A"}]""", "concept 1: 'instance_prompt' must be text.")]
    [InlineData("concepts.json", """[{"instance_prompt": "x", "instance_data_dir": "A/missing"}]""", "concept 1: instance_data_dir A/missing: folder not found.")]
    [InlineData("concepts.json", """[{"instance_prompt": "x", "instance_data_dir": "A", "class_prompt": "y"}]""", "concept 1: class_data_dir is required with prior preservation.")]
    [InlineData("concepts.json", """[{"instance_prompt": "x",""", "")]
    [InlineData("concepts.yaml", "- instance_prompt: [x\n", "invalid YAML at line")]
    public void LoadList_Problems_OneLineNamingFileAndConcept(string name, string text, string expected)
    {
        var a = Dir("A");
        var path = Write(name, text.Replace("\"A", "\"" + a));
        var e = Assert.Throws<DreamBoothException>(() => Concept.LoadList(path, withClasses: text.Contains("class_prompt")));
        Assert.StartsWith($"{path}: {expected.Replace("A/missing", Path.Combine(a, "missing"))}", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    private TrainOptions WithList(string concepts) => new()
    {
        ConceptsList = Write("concepts.yaml", concepts),
        WithPriorPreservation = true,
        OutputDir = Path.Combine(root, "out"),
    };

    [Fact]
    public void Validated_ConceptsListAlone_NeedsNoInstanceOptions_ConceptsGetTheGlobalIdentifier()
    {
        var (a, b) = (Dir("a"), Dir("b"));
        var o = WithList($"""
            - {"{"}instance_prompt: p, instance_data_dir: {a}, class_prompt: c, class_data_dir: {Path.Combine(root, "ca")}{"}"}
            - {"{"}instance_prompt: q, instance_data_dir: {b}, class_prompt: d, class_data_dir: {Path.Combine(root, "cb")}, identifier: zwx{"}"}
            """) with { Identifier = "sks", ClassNoun = "dog" };
        var concepts = o.Validated().Concepts();
        Assert.Equal([("sks", "dog"), ("zwx", "dog")], concepts.Select(c => (c.Identifier, c.ClassNoun)));
    }

    [Theory]
    [InlineData("instance_data_dir")]
    [InlineData("instance_prompt")]
    [InlineData("class_data_dir")]
    [InlineData("class_prompt")]
    public void Validated_ConceptsListWithAnOptionItReplaces_Refused(string key)
    {
        var a = Dir("a");
        var o = WithList($"- {{instance_prompt: p, instance_data_dir: {a}, class_prompt: c, class_data_dir: {Path.Combine(root, "c")}}}");
        o = TrainOption.Find(key)!.With(o, key.EndsWith("dir") ? a : "a photo");
        var e = Assert.Throws<TrainOptionException>(() => o.Validated());
        Assert.Equal($"{key} cannot be used with concepts_list, which replaces it.", e.Message);
        Assert.Equal([key, "concepts_list"], e.Keys);
    }

    [Fact]
    public void Validated_MissingConceptsFile_NamesTheOption()
    {
        var e = Assert.Throws<TrainOptionException>(() => new TrainOptions { ConceptsList = Path.Combine(root, "none.json") }.Validated());
        Assert.Equal($"concepts_list {Path.Combine(root, "none.json")}: file not found.", e.Message);
    }

    [Fact]
    public void Validated_ClassFolderIsAnotherConceptsPhotos_Refused()
    {
        var (a, b) = (Dir("a"), Dir("b"));
        var o = WithList($"""
            - {"{"}instance_prompt: p, instance_data_dir: {a}, class_prompt: c, class_data_dir: {Path.Combine(root, "ca")}{"}"}
            - {"{"}instance_prompt: q, instance_data_dir: {b}, class_prompt: d, class_data_dir: {a}{"}"}
            """);
        var e = Assert.Throws<DreamBoothException>(() => o.Validated());
        Assert.Equal($"{o.ConceptsList}: concept 2: class_data_dir {a}: is the instance folder of concept 1; generated class images would mix with the photos. Choose another folder.", e.Message);
    }

    [Fact]
    public void Validated_OutputIsAConceptsPhotos_Refused()
    {
        var (a, b) = (Dir("a"), Dir("b"));
        var o = WithList($"""
            - {"{"}instance_prompt: p, instance_data_dir: {a}, class_prompt: c, class_data_dir: {Path.Combine(root, "ca")}{"}"}
            - {"{"}instance_prompt: q, instance_data_dir: {b}, class_prompt: d, class_data_dir: {Path.Combine(root, "cb")}{"}"}
            """) with { OutputDir = b };
        var e = Assert.Throws<TrainOptionException>(() => o.Validated());
        Assert.StartsWith($"output_dir {b}: is the instance folder of concept 2 in {o.ConceptsList}", e.Message);
    }

    [Theory]
    [InlineData("txt", ".txt")]
    [InlineData(".caption", ".caption")]
    public void Validated_CaptionExtension_WithItsDot(string given, string expected)
    {
        var a = Dir("a");
        var o = new TrainOptions { InstanceDataDir = a, InstancePrompt = "p", OutputDir = Path.Combine(root, "out"), CaptionExtension = given };
        Assert.Equal(expected, o.Validated().CaptionExtension);
    }

    [Theory]
    [InlineData(".png")]
    [InlineData(".")]
    [InlineData("a/b")]
    public void Validated_CaptionExtensionThatIsNoCaptionFile_Refused(string given)
    {
        var o = new TrainOptions { InstanceDataDir = Dir("a"), InstancePrompt = "p", OutputDir = Path.Combine(root, "out"), CaptionExtension = given };
        var e = Assert.Throws<TrainOptionException>(() => o.Validated());
        Assert.Equal($"caption_extension must be a file extension such as .txt or .caption, not '{given}'.", e.Message);
    }
}
