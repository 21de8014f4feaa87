// Mirrors huggingface_hub v0.22.2 file_download.py cache layout (repo_folder_name, _create_symlink,
// _cache_commit_hash_for_specific_revision, _get_pointer_path, try_to_load_from_cache, _normalize_etag).
namespace DreamBooth.Hub;

using System.Text.RegularExpressions;

/// <summary>
/// The Hugging Face hub cache, byte-compatible with Python's huggingface_hub so either side reuses the other's downloads:
/// <code>
/// {root}/models--{org}--{name}/
///   blobs/{etag}                         file contents, named by the (normalised) etag: sha256 for LFS files, git sha1 otherwise
///   blobs/{etag}.incomplete              a download in progress (never looks complete)
///   snapshots/{commit}/{path}            relative symlink to ../../blobs/{etag} (copy where symlinks fail)
///   refs/{revision}                      text file holding the commit sha a branch or tag pointed to
/// {root}/.locks/models--{org}--{name}/{etag}.lock
/// </code>
/// </summary>
public sealed partial class HubCache
{
    public HubCache(string root)
    {
        if (string.IsNullOrWhiteSpace(root)) throw new DreamBoothException("Hub cache folder is empty.");
        Root = Path.GetFullPath(root);
    }

    public string Root { get; }

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitHashRegex();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Regex();

    /// <summary>A full 40-hex commit sha (lower case), which needs no refs/ lookup.</summary>
    public static bool IsCommitHash(string revision) => CommitHashRegex().IsMatch(revision);

    /// <summary>An LFS etag: the sha256 of the content, which the download is checked against.</summary>
    public static bool IsSha256(string etag) => Sha256Regex().IsMatch(etag);

    /// <summary>"models--org--name".</summary>
    public static string RepoFolderName(string repoId) => "models--" + repoId.Replace("/", "--", StringComparison.Ordinal);

    public string RepoFolder(string repoId) => Path.Combine(Root, RepoFolderName(repoId));

    /// <summary>
    /// ETag header → blob file name. Same as huggingface_hub: drop leading 'W' and '/' characters (the weak-etag
    /// prefix), then surrounding quotes. Kept character-for-character so both clients name blobs identically.
    /// </summary>
    public static string? NormalizeEtag(string? etag) => etag?.TrimStart('W', '/').Trim('"');

    /// <summary>The commit a revision stands for: itself when it is a commit sha, else the content of refs/{revision}; null when unknown.</summary>
    public string? ResolveCommit(string repoId, string revision)
    {
        if (IsCommitHash(revision)) return revision;
        var refPath = RefPath(repoId, revision);
        if (!File.Exists(refPath)) return null;
        var commit = File.ReadAllText(refPath).Trim();
        return commit.Length > 0 ? commit : null;
    }

    /// <summary>Records that a branch or tag points to <paramref name="commit"/> (nothing to do for a commit sha, or when unchanged).</summary>
    public void WriteRef(string repoId, string revision, string commit)
    {
        if (revision == commit) return;
        var refPath = RefPath(repoId, revision);
        // Only write when it changed: a read-only shared cache that is already up to date must keep working.
        if (File.Exists(refPath) && File.ReadAllText(refPath) == commit) return;
        Directory.CreateDirectory(Path.GetDirectoryName(refPath)!);
        var tmp = refPath + $".tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        File.WriteAllText(tmp, commit); // no newline, like Python
        File.Move(tmp, refPath, overwrite: true);
    }

    public string SnapshotFolder(string repoId, string commit) => Path.Combine(RepoFolder(repoId), "snapshots", CheckName(commit, "commit"));

    /// <summary>snapshots/{commit}/{path}, refusing repo paths that would land outside the snapshot.</summary>
    public string PointerPath(string repoId, string commit, string repoPath)
    {
        var parts = repoPath.Split('/');
        if (repoPath.Length == 0 || parts.Any(p => p is "" or "." or ".." || p.Contains('\\')))
            throw new HubException(HubErrorKind.Integrity, $"{repoId}: refusing repo file name '{repoPath}' (it would point outside the snapshot folder).");
        return Path.Combine([SnapshotFolder(repoId, commit), .. parts]);
    }

    public string BlobPath(string repoId, string etag) => Path.Combine(RepoFolder(repoId), "blobs", CheckName(etag, "etag"));

    public string LockPath(string repoId, string etag) => Path.Combine(Root, ".locks", RepoFolderName(repoId), CheckName(etag, "etag") + ".lock");

    /// <summary>The cached file for (repo, path, revision) or null; like huggingface_hub's try_to_load_from_cache.</summary>
    public string? TryGetCachedFile(string repoId, string repoPath, string revision = ModelRef.DefaultRevision)
    {
        var commit = ResolveCommit(repoId, revision);
        if (commit is null) return null;
        var pointer = PointerPath(repoId, commit, repoPath);
        return Present(pointer) ? pointer : null;
    }

    /// <summary>Whether a file or the file its symlink points to exists. .NET's File.Exists is true for a dangling
    /// link (blob deleted); Python's os.path.exists, which the cache layout assumes, is not.</summary>
    public static bool Present(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is null) return info.Exists;
        return info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true };
    }

    /// <summary>Size of a file, or of the blob a snapshot link points to (FileInfo.Length would give the link's own size).</summary>
    public static long SizeOf(string path)
    {
        var info = new FileInfo(path);
        return info.LinkTarget is null ? info.Length : info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo { Exists: true } target ? target.Length : 0;
    }

    /// <summary>Repo-relative paths ('/'-separated) of the files present in a cached snapshot, sorted.</summary>
    public IReadOnlyList<string> ListSnapshotFiles(string repoId, string commit)
    {
        var folder = SnapshotFolder(repoId, commit);
        if (!Directory.Exists(folder)) return [];
        return Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(Present)
            .Select(f => Path.GetRelativePath(folder, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>
    /// Points <paramref name="pointer"/> at <paramref name="blob"/> with a relative symlink (survives moving the cache),
    /// like Python. Where symlinks are not allowed, a freshly downloaded blob is moved there and an existing one copied.
    /// </summary>
    public static void Link(string blob, string pointer, bool newBlob)
    {
        var dir = Path.GetDirectoryName(pointer)!;
        Directory.CreateDirectory(dir);
        File.Delete(pointer); // the old link or copy, dangling or not (no error when absent)
        try
        {
            File.CreateSymbolicLink(pointer, Path.GetRelativePath(dir, blob));
            return;
        }
        catch (IOException) when (SameFile(pointer, blob))
        {
            return; // another process linked it between our delete and create
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            // Fall through: no symlinks on this file system (e.g. Windows without developer mode, some network shares).
        }
        if (newBlob)
        {
            File.Move(blob, pointer, overwrite: true);
            return;
        }
        var tmp = pointer + $".tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        File.Copy(blob, tmp, overwrite: true);
        File.Move(tmp, pointer, overwrite: true); // never a half-copied pointer
    }

    private static bool SameFile(string link, string target)
    {
        var resolved = new FileInfo(link).ResolveLinkTarget(returnFinalTarget: true);
        return resolved is not null && Path.GetFullPath(resolved.FullName) == Path.GetFullPath(target);
    }

    private string RefPath(string repoId, string revision)
    {
        ModelRef.ValidateRevision(revision, repoId);
        return Path.Combine([RepoFolder(repoId), "refs", .. revision.Split('/')]);
    }

    private static string CheckName(string name, string what)
    {
        if (name.Length == 0 || name is "." or ".." || name.Contains('/') || name.Contains('\\') || name.Contains('\0'))
            throw new HubException(HubErrorKind.Integrity, $"The Hub sent an unusable {what} '{name}'.");
        return name;
    }
}
