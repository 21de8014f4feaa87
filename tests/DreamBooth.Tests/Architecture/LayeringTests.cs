namespace DreamBooth.Tests.Architecture;

using System.Text.RegularExpressions;

/// <summary>
/// Keeps the library's top-level namespaces (the folders of src/DreamBooth) layered one way: each may use only the
/// ones listed before it in <see cref="Order"/>. References are read from the source text: <c>using DreamBooth.X</c>
/// directives, fully qualified <c>DreamBooth.X.</c> names (in code, doc comments and comments alike) and names
/// qualified from the parent namespace (<c>Torch.Rng</c> inside <c>DreamBooth.Training</c>).
/// </summary>
public sealed partial class LayeringTests
{
    /// <summary>Lowest first. The CLI (src/DreamBooth.Cli) sits above them all, as a separate assembly.</summary>
    private static readonly string[] Order =
    [
        "Torch",        // tensor engine: runtime, RNG, gradient checkpointing
        "Text",         // tokenizer text, names fit for messages
        "IO",           // safetensors, atomic files
        "Imaging",
        "Data",         // training-data checks
        "Loading",      // tensor sources, weight files, config files, strict loading, key-name tables
        "Hub",
        "Models",
        "Schedulers",
        "Lora",
        "Loaders",      // single-file / LDM checkpoints (diffusers' loaders/)
        "Pipelines",
        "Evaluation",   // the DreamBooth paper's metrics: CLIP / DINO features of generated images
        "Training",
        "ToyWorld",     // the toy world and its base model's pretraining (uses Training)
        "Benchmarks",   // dreambooth bench: speed and memory against the machine's own limits
    ];

    [Fact]
    public void EveryFolderHasAPlaceInTheOrder()
    {
        var folders = Scan().Folders;
        Assert.True(folders.SetEquals(Order),
            $"src/DreamBooth folders [{string.Join(", ", folders.Order(StringComparer.Ordinal))}] and LayeringTests.Order " +
            $"[{string.Join(", ", Order)}] differ: give a new folder its layer.");
    }

    [Fact]
    public void EveryFileDeclaresTheNamespaceOfItsFolder()
    {
        var wrong = Scan().Files.Where(f => f.Layer == Root ? f.Namespace != Root
                                                            : f.Namespace != $"{Root}.{f.Layer}" && !f.Namespace.StartsWith($"{Root}.{f.Layer}.", StringComparison.Ordinal))
            .Select(f => $"{f.Path}: namespace {f.Namespace}").ToList();
        Assert.True(wrong.Count == 0, "Files outside their folder's namespace (the layering scan goes by folder):\n" + string.Join("\n", wrong));
    }

    [Fact]
    public void NamespacesFormNoCycle()
    {
        var graph = Scan().References.GroupBy(r => r.From).ToDictionary(g => g.Key, g => g.Select(r => r.To).Distinct().ToList());
        var cycle = FindCycle(graph);
        Assert.True(cycle is null, cycle is null ? "" : "Namespace cycle " + string.Join(" → ", cycle) + ":\n" +
            string.Join("\n", cycle.Zip(cycle.Skip(1)).Select(e => Scan().References.First(r => r.From == e.First && r.To == e.Second).ToString())));
    }

    [Fact]
    public void NamespacesUseOnlyLowerLayers()
    {
        // The root namespace (DreamBoothException) is below every layer: index -1.
        var upward = Scan().References
            .Where(r => Array.IndexOf(Order, r.To) > Array.IndexOf(Order, r.From))
            .Select(r => $"{r}\n    ({r.From} may use only [{string.Join(", ", Order.TakeWhile(n => n != r.From && r.From != Root))}])")
            .ToList();
        Assert.True(upward.Count == 0, "References to a higher layer:\n" + string.Join("\n", upward));
    }

    [Fact]
    public void ScannerSeesUsingsQualifiedAndParentQualifiedNames()
    {
        const string source = """
            namespace DreamBooth.Models.Unets;

            using DreamBooth.Training;
            using static DreamBooth.Pipelines.PromptEncoding;
            /// <see cref="DreamBooth.Lora.LoraLinear"/>
            var rng = Torch.Rng.CpuGenerator(1);
            var data = Data.Value;   // a member named like a namespace, not a reference
            """;
        var names = new Dictionary<string, HashSet<string>>
        {
            ["Torch"] = ["Rng"], ["Data"] = ["DataCheck"], ["Training"] = [], ["Pipelines"] = [], ["Lora"] = [], ["Models"] = ["Unets"],
        };
        var found = References("Models", "src/DreamBooth/Models/Unets/X.cs", source, names).Select(r => (r.To, r.Line)).ToList();
        Assert.Equal(new[] { ("Training", 3), ("Pipelines", 4), ("Lora", 5), ("Torch", 6) }, found);
    }

    private const string Root = "DreamBooth";

    /// <param name="Layer">The top-level folder, or <see cref="Root"/> for files directly in src/DreamBooth.</param>
    private sealed record SourceFile(string Path, string Layer, string Namespace, string Text);

    private sealed record Reference(string From, string To, string Path, int Line, string Code)
    {
        public override string ToString() => $"{Path}:{Line}: {From} → {To}: {Code}";
    }

    private sealed record Snapshot(HashSet<string> Folders, List<SourceFile> Files, List<Reference> References);

    private static readonly Lazy<Snapshot> Cached = new(Read);

    private static Snapshot Scan() => Cached.Value;

    private static Snapshot Read()
    {
        var root = Path.Combine(RepositoryRoot(), "src", "DreamBooth");
        var folders = Directory.GetDirectories(root).Select(d => Path.GetFileName(d)!)
            .Where(d => d is not ("bin" or "obj" or "Resources")).ToHashSet(StringComparer.Ordinal);
        var files = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(relative => !relative.StartsWith("bin/", StringComparison.Ordinal) && !relative.StartsWith("obj/", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(relative =>
            {
                var text = File.ReadAllText(Path.Combine(root, relative));
                var layer = relative.Contains('/') ? relative[..relative.IndexOf('/')] : Root;
                return new SourceFile("src/DreamBooth/" + relative, layer, NamespaceDeclaration().Match(text).Groups[1].Value, text);
            })
            .ToList();

        // Names a parent-qualified reference can continue with: the types declared directly in a top-level namespace
        // and its sub-namespaces (Models.Clip.…).
        var names = folders.ToDictionary(n => n, _ => new HashSet<string>(StringComparer.Ordinal));
        foreach (var f in files.Where(f => folders.Contains(f.Layer)))
        {
            var prefix = $"{Root}.{f.Layer}.";
            if (f.Namespace.StartsWith(prefix, StringComparison.Ordinal)) names[f.Layer].Add(f.Namespace[prefix.Length..].Split('.')[0]);
            else foreach (Match m in TypeDeclaration().Matches(f.Text)) names[f.Layer].Add(m.Groups[1].Value);
        }
        var references = files.SelectMany(f => References(f.Layer, f.Path, f.Text, names)).ToList();
        return new Snapshot(folders, files, references);
    }

    /// <summary>Every reference from <paramref name="layer"/> to another top-level namespace in one file's text.</summary>
    private static IEnumerable<Reference> References(string layer, string path, string text, IReadOnlyDictionary<string, HashSet<string>> names)
    {
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (line.TrimStart().StartsWith("namespace ", StringComparison.Ordinal)) continue;
            var targets = new SortedSet<string>(StringComparer.Ordinal);
            foreach (Match m in QualifiedName().Matches(line))
                if (names.ContainsKey(m.Groups[1].Value)) targets.Add(m.Groups[1].Value);
            foreach (Match m in ParentQualifiedName().Matches(line))
                if (names.TryGetValue(m.Groups[1].Value, out var known) && known.Contains(m.Groups[2].Value)) targets.Add(m.Groups[1].Value);
            foreach (var target in targets.Where(t => t != layer))
                yield return new Reference(layer, target, path, i + 1, line.Trim());
        }
    }

    /// <summary>A path n₀ → … → n₀ through the graph, or null.</summary>
    private static List<string>? FindCycle(Dictionary<string, List<string>> graph)
    {
        var state = new Dictionary<string, int>(StringComparer.Ordinal);   // 1: on the current path, 2: done
        var path = new List<string>();
        List<string>? Visit(string node)
        {
            state[node] = 1;
            path.Add(node);
            foreach (var next in graph.GetValueOrDefault(node) ?? [])
            {
                if (state.GetValueOrDefault(next) == 1) return [.. path.Skip(path.IndexOf(next)), next];
                if (state.GetValueOrDefault(next) == 0 && Visit(next) is { } found) return found;
            }
            path.RemoveAt(path.Count - 1);
            state[node] = 2;
            return null;
        }
        foreach (var node in graph.Keys.Order(StringComparer.Ordinal))
            if (state.GetValueOrDefault(node) == 0 && Visit(node) is { } cycle) return cycle;
        return null;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "DreamBooth.slnx"))) return dir.FullName;
        throw new InvalidOperationException($"No DreamBooth.slnx above {AppContext.BaseDirectory}.");
    }

    [GeneratedRegex(@"^\s*namespace\s+([\w.]+)", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();

    [GeneratedRegex(@"\b(?:class|struct|interface|enum|record)\s+(\w+)")]
    private static partial Regex TypeDeclaration();

    [GeneratedRegex(@"(?<![\w.])DreamBooth\.(\w+)")]
    private static partial Regex QualifiedName();

    [GeneratedRegex(@"(?<![\w.])(\w+)\.(\w+)")]
    private static partial Regex ParentQualifiedName();
}
