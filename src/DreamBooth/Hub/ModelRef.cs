// Mirrors huggingface_hub v0.22.2 utils/_validators.py::validate_repo_id (repo id rules) for the Hub case.
namespace DreamBooth.Hub;

using System.Text.RegularExpressions;

public enum ModelRefKind
{
    /// <summary>A diffusers pipeline folder on disk.</summary>
    LocalFolder,
    /// <summary>A single-file checkpoint on disk (.safetensors).</summary>
    LocalSingleFile,
    /// <summary>A Hugging Face Hub repository, <c>org/name[@revision]</c>.</summary>
    HubRepo,
}

/// <summary>What a model argument names: a local folder, a local .safetensors checkpoint, or a Hub repo at a revision.</summary>
public sealed partial record ModelRef
{
    public const string DefaultRevision = "main";

    public ModelRefKind Kind { get; }

    /// <summary>Full path for local models, null for Hub repos.</summary>
    public string? LocalPath { get; }

    /// <summary><c>org/name</c> for Hub repos, null for local models.</summary>
    public string? RepoId { get; }

    /// <summary>Branch, tag or commit sha (Hub only; "main" when not given).</summary>
    public string Revision { get; }

    private ModelRef(ModelRefKind kind, string? localPath, string? repoId, string revision)
    {
        Kind = kind;
        LocalPath = localPath;
        RepoId = repoId;
        Revision = revision;
    }

    public bool IsHub => Kind == ModelRefKind.HubRepo;

    public static ModelRef Hub(string repoId, string? revision = null)
    {
        ValidateRepoId(repoId);
        revision ??= DefaultRevision;
        ValidateRevision(revision, repoId);
        return new ModelRef(ModelRefKind.HubRepo, null, repoId, revision);
    }

    /// <summary>
    /// Classifies a model argument. Anything that exists on disk is local (so a folder literally named "org/name" wins);
    /// otherwise it must be a Hub repo id <c>org/name</c> with an optional <c>@revision</c>.
    /// </summary>
    public static ModelRef Parse(string argument)
    {
        if (string.IsNullOrWhiteSpace(argument)) throw new DreamBoothException("Model argument is empty: give a local folder, a .safetensors file, or a Hub repo id like org/name.");
        var expanded = ExpandHome(argument.Trim());
        if (Directory.Exists(expanded)) return new ModelRef(ModelRefKind.LocalFolder, Path.GetFullPath(expanded), null, DefaultRevision);
        if (File.Exists(expanded)) return LocalFile(Path.GetFullPath(expanded));

        if (LooksLikePath(argument))
            throw new DreamBoothException($"Model path '{argument}' does not exist.");

        var at = argument.IndexOf('@');
        var repoId = at < 0 ? argument : argument[..at];
        var revision = at < 0 ? DefaultRevision : argument[(at + 1)..];
        if (at >= 0 && revision.Length == 0)
            throw new DreamBoothException($"'{argument}': empty revision after '@' (write org/name@main, a tag, or a commit sha).");
        ValidateRepoId(repoId, argument);
        ValidateRevision(revision, argument);
        return new ModelRef(ModelRefKind.HubRepo, null, repoId, revision);
    }

    public override string ToString() => Kind switch
    {
        ModelRefKind.HubRepo => Revision == DefaultRevision ? RepoId! : $"{RepoId}@{Revision}",
        _ => LocalPath!,
    };

    private static ModelRef LocalFile(string path)
    {
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext == ".safetensors") return new ModelRef(ModelRefKind.LocalSingleFile, path, null, DefaultRevision);
        if (ext is ".ckpt" or ".pt" or ".pth" or ".bin" or ".pkl")
            throw new DreamBoothException($"{path}: pickled checkpoints ({ext}) are refused because loading them can run arbitrary code; use the .safetensors version of the model.");
        throw new DreamBoothException($"{path}: not a model (expected a diffusers folder, a .safetensors checkpoint, or a Hub repo id org/name).");
    }

    private static bool LooksLikePath(string s) =>
        s.StartsWith('/') || s.StartsWith('.') || s.StartsWith('~') || s.Contains('\\') || s.Contains(':') ||
        s.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || s.EndsWith(".ckpt", StringComparison.OrdinalIgnoreCase) ||
        (s.IndexOf('@') is var at && (at < 0 ? s : s[..at]).Count(c => c == '/') > 1);

    internal static string ExpandHome(string path)
    {
        if (path != "~" && !path.StartsWith("~/", StringComparison.Ordinal)) return path;
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return path == "~" ? home : Path.Combine(home, path[2..]);
    }

    // Same rules as the Hub client: namespace/name, [A-Za-z0-9_.-], no "--" or "..", '-'/'.' not at either end, ≤ 96 chars.
    [GeneratedRegex(@"^[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?$")]
    private static partial Regex NamePart();

    internal static void ValidateRepoId(string repoId, string? argument = null)
    {
        var what = argument ?? repoId;
        var parts = repoId.Split('/');
        if (parts.Length != 2)
            throw new DreamBoothException($"'{what}' is neither an existing path nor a Hub repo id: repo ids look like org/name (optionally org/name@revision).");
        foreach (var part in parts)
        {
            if (part.Length == 0 || part.Length > 96 || !NamePart().IsMatch(part))
                throw new DreamBoothException($"'{what}': invalid Hub repo id: names use letters, digits, '-', '_', '.', may not start or end with '-' or '.', and have at most 96 characters.");
        }
        if (repoId.Contains("--", StringComparison.Ordinal) || repoId.Contains("..", StringComparison.Ordinal))
            throw new DreamBoothException($"'{what}': invalid Hub repo id: '--' and '..' are not allowed.");
        if (repoId.EndsWith(".git", StringComparison.Ordinal))
            throw new DreamBoothException($"'{what}': invalid Hub repo id: it may not end with '.git'.");
    }

    internal static void ValidateRevision(string revision, string what)
    {
        // Revisions become paths under refs/ (e.g. refs/pr/1), so nothing that could step outside that folder.
        if (revision.Length == 0 || revision.Any(char.IsWhiteSpace) || revision.Contains('\\') || revision.StartsWith('/') ||
            revision.EndsWith('/') || revision.Contains("//", StringComparison.Ordinal) || revision.Split('/').Any(p => p is "." or ".."))
            throw new DreamBoothException($"'{what}': invalid revision '{revision}' (use a branch, a tag or a commit sha).");
    }
}
