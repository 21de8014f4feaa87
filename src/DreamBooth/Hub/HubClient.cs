// Mirrors huggingface_hub v0.22.2 file_download.py::hf_hub_download and hf_api.py::model_info
// (GET {endpoint}/api/models/{repo_id}/revision/{revision}).
namespace DreamBooth.Hub;

using System.Text.Json;

/// <summary>A repo at a commit: its sha and every file path ('/'-separated).</summary>
public sealed record RepoInfo(string RepoId, string Sha, IReadOnlyList<string> Files);

/// <summary>
/// Downloads from the Hugging Face Hub into the shared cache (<see cref="HubCache"/>), or resolves from it offline.
/// Entry points: <see cref="ResolveAsync"/> (any model argument → local path), <see cref="DownloadPipelineAsync"/>,
/// <see cref="DownloadFileAsync"/>.
/// </summary>
public sealed partial class HubClient : IDisposable
{
    private readonly HubHttp _http;

    /// <param name="handler">Optional HTTP handler (tests); it must not follow redirects itself.</param>
    public HubClient(HubOptions options, HttpMessageHandler? handler = null)
    {
        Options = options;
        Cache = new HubCache(options.CacheDir);
        _http = new HubHttp(options, handler);
    }

    /// <summary>A client configured from HF_ENDPOINT, HF_TOKEN (or the token file), HF_HUB_OFFLINE and the HF cache variables.</summary>
    public static HubClient FromEnvironment() => new(HubOptions.FromEnvironment());

    public HubOptions Options { get; }

    public HubCache Cache { get; }

    public void Dispose() => _http.Dispose();

    /// <summary>
    /// The local path to load <paramref name="model"/> from: a local folder or .safetensors file as given, or the
    /// cache snapshot folder of a Hub pipeline (downloading what is missing unless offline).
    /// </summary>
    public async Task<string> ResolveAsync(ModelRef model, PipelineFileOptions? files = null, IProgress<HubProgress>? progress = null, CancellationToken ct = default)
    {
        if (!model.IsHub)
        {
            var exists = model.Kind == ModelRefKind.LocalFolder ? Directory.Exists(model.LocalPath) : File.Exists(model.LocalPath);
            return exists ? model.LocalPath! : throw new DreamBoothException($"Model path '{model.LocalPath}' does not exist.");
        }
        return await DownloadPipelineAsync(model, files, progress, ct);
    }

    public string Resolve(ModelRef model, PipelineFileOptions? files = null, IProgress<HubProgress>? progress = null) =>
        ResolveAsync(model, files, progress).GetAwaiter().GetResult();

    /// <summary>Lists a repo at a revision (the Hub's model_info endpoint).</summary>
    public async Task<RepoInfo> GetRepoInfoAsync(string repoId, string revision = ModelRef.DefaultRevision, CancellationToken ct = default)
    {
        ModelRef.ValidateRepoId(repoId);
        ModelRef.ValidateRevision(revision, repoId);
        if (Options.Offline) throw OfflineError($"the file list of {Label(repoId, revision)}");
        var url = new Uri($"{Options.Endpoint}/api/models/{repoId}/revision/{Uri.EscapeDataString(revision)}");
        using var response = await _http.GetAsync(url, 0, r => Errors.For(Options, r, repoId, revision, null), ct);
        string json;
        try
        {
            json = await response.Content.ReadAsStringAsync(ct);
        }
        catch (Exception e) when (HubHttp.IsNetworkFailure(e, ct))
        {
            throw _http.NetworkError(url, e);
        }
        try
        {
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            var sha = root.TryGetProperty("sha", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString()! : null;
            if (sha is null || !HubCache.IsCommitHash(sha))
                throw new HubException(HubErrorKind.Integrity, $"{url}: the answer has no commit sha; is {Options.Endpoint} a Hugging Face Hub (check HF_ENDPOINT)?");
            var files = new List<string>();
            if (root.TryGetProperty("siblings", out var siblings) && siblings.ValueKind == JsonValueKind.Array)
                foreach (var sibling in siblings.EnumerateArray())
                    if (sibling.TryGetProperty("rfilename", out var name) && name.ValueKind == JsonValueKind.String)
                        files.Add(name.GetString()!);
            return new RepoInfo(repoId, sha, files);
        }
        catch (JsonException e)
        {
            throw new HubException(HubErrorKind.Integrity, $"{url}: the answer is not JSON ({e.Message.Split('.')[0]}); is {Options.Endpoint} a Hugging Face Hub (check HF_ENDPOINT)?", e);
        }
    }

    /// <summary>HEAD of one repo file: commit, etag, size and download location.</summary>
    public Task<HubFileMetadata> GetFileMetadataAsync(string repoId, string path, string revision = ModelRef.DefaultRevision, CancellationToken ct = default)
    {
        if (Options.Offline) throw OfflineError($"{path} of {Label(repoId, revision)}");
        return _http.HeadAsync(ResolveUrl(repoId, revision, path), r => Errors.For(Options, r, repoId, revision, path), ct);
    }

    /// <summary>
    /// One repo file, from the cache or downloaded into it (like hf_hub_download); returns its snapshot path
    /// <c>…/snapshots/{commit}/{path}</c>.
    /// </summary>
    public async Task<string> DownloadFileAsync(string repoId, string path, string revision = ModelRef.DefaultRevision, IProgress<HubProgress>? progress = null, CancellationToken ct = default)
    {
        ModelRef.ValidateRepoId(repoId);
        ModelRef.ValidateRevision(revision, repoId);

        // A commit sha names immutable content: a cached file needs no network at all.
        if (HubCache.IsCommitHash(revision) && HubCache.Present(Cache.PointerPath(repoId, revision, path)))
            return Cached(Cache.PointerPath(repoId, revision, path), path, progress);
        if (Options.Offline)
            return Cached(Cache.TryGetCachedFile(repoId, path, revision) ?? throw NotCached(repoId, revision, path), path, progress);

        HubFileMetadata meta;
        try
        {
            meta = await GetFileMetadataAsync(repoId, path, revision, ct);
        }
        catch (HubException e) when (e.Kind is not (HubErrorKind.EntryNotFound or HubErrorKind.RevisionNotFound or HubErrorKind.Integrity))
        {
            // No connection, Hub down, or a token that no longer works: what is cached for this revision still serves.
            var cached = Cache.TryGetCachedFile(repoId, path, revision);
            if (cached is null) throw;
            return Cached(cached, path, progress);
        }

        var commit = meta.Commit is { } c && HubCache.IsCommitHash(c) ? c
            : throw new HubException(HubErrorKind.Integrity, $"{ResolveUrl(repoId, revision, path)}: no X-Repo-Commit header; is {Options.Endpoint} a Hugging Face Hub (check HF_ENDPOINT and proxy settings)?");
        var etag = meta.Etag is { Length: > 0 } t ? t
            : throw new HubException(HubErrorKind.Integrity, $"{ResolveUrl(repoId, revision, path)}: no ETag header, so the download could not be verified.");
        var blob = Cache.BlobPath(repoId, etag);
        var pointer = Cache.PointerPath(repoId, commit, path);
        Cache.WriteRef(repoId, revision, commit);
        if (HubCache.Present(pointer)) return Cached(pointer, path, progress);
        if (File.Exists(blob))
        {
            HubCache.Link(blob, pointer, newBlob: false);
            return Cached(pointer, path, progress);
        }

        // Same lock file as Python (.locks/models--org--name/{etag}.lock, flock): one writer per blob across processes.
        await using (await AcquireLock(Cache.LockPath(repoId, etag), ct))
        {
            if (HubCache.Present(pointer)) return Cached(pointer, path, progress);
            if (File.Exists(blob))
            {
                HubCache.Link(blob, pointer, newBlob: false);
                return Cached(pointer, path, progress);
            }
            Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
            var incomplete = blob + ".incomplete";
            try
            {
                await BlobDownload.RunAsync(_http, Options, meta.Location, incomplete, meta.Size, HubCache.IsSha256(etag) ? etag : null,
                    path, r => Errors.For(Options, r, repoId, revision, path), progress, ct);
            }
            catch (HubException e) when (e.Kind == HubErrorKind.Integrity)
            {
                File.Delete(incomplete); // wrong bytes: resuming from them would only repeat the failure
                throw;
            }
            File.Move(incomplete, blob, overwrite: true);
            HubCache.Link(blob, pointer, newBlob: true);
        }
        return pointer;
    }

    public string DownloadFile(string repoId, string path, string revision = ModelRef.DefaultRevision, IProgress<HubProgress>? progress = null) =>
        DownloadFileAsync(repoId, path, revision, progress).GetAwaiter().GetResult();

    internal Uri ResolveUrl(string repoId, string revision, string path) =>
        new($"{Options.Endpoint}/{repoId}/resolve/{Uri.EscapeDataString(revision)}/{string.Join('/', path.Split('/').Select(Uri.EscapeDataString))}");

    private static string Cached(string pointer, string path, IProgress<HubProgress>? progress)
    {
        var size = HubCache.SizeOf(pointer);
        progress?.Report(new HubProgress(path, size, size, Cached: true));
        return pointer;
    }

    private static async Task<FileStream> AcquireLock(string lockPath, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!);
        while (true)
        {
            try
            {
                // FileShare.None takes an exclusive flock on Unix, the same lock Python's filelock takes.
                return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException e) when (IsLockConflict(e))
            {
                await Task.Delay(100, ct);
            }
        }
    }

    // Windows: sharing/lock violation; Linux and macOS: EWOULDBLOCK from flock (11 and 35).
    private static bool IsLockConflict(IOException e) => e.HResult is unchecked((int)0x80070020) or unchecked((int)0x80070021) or 11 or 35;

    internal static string Label(string repoId, string revision) => revision == ModelRef.DefaultRevision ? repoId : $"{repoId}@{revision}";

    private HubException OfflineError(string what) =>
        new(HubErrorKind.NotCached, $"Cannot fetch {what}: HF_HUB_OFFLINE is set, so the network is not used.");

    private HubException NotCached(string repoId, string revision, string path) =>
        new(HubErrorKind.NotCached,
            $"{path} of {Label(repoId, revision)} is not in the Hugging Face cache ({Cache.RepoFolder(repoId)}) and HF_HUB_OFFLINE is set: unset HF_HUB_OFFLINE to download it.");
}
