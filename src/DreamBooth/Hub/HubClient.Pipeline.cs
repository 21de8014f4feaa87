// Mirrors huggingface_hub v0.22.2 _snapshot_download.py::snapshot_download (list at a revision, pin the commit,
// fetch each file by commit; offline: refs/ → snapshots/), with diffusers' choice of files.
namespace DreamBooth.Hub;

using DreamBooth.Loading;

public sealed partial class HubClient
{
    /// <summary>
    /// Downloads what a diffusers pipeline needs (model_index.json; each component's config and tokenizer files and
    /// safetensors weights, sharded or not, in <see cref="PipelineFileOptions.Variant"/> where the repo has it) and
    /// returns the snapshot folder <c>…/models--org--name/snapshots/{commit}</c>. Offline, or when the Hub cannot be
    /// reached, the cached snapshot of the revision is checked and returned.
    /// </summary>
    public async Task<string> DownloadPipelineAsync(ModelRef model, PipelineFileOptions? files = null, IProgress<HubProgress>? progress = null, CancellationToken ct = default)
    {
        if (!model.IsHub) throw new ArgumentException($"{model} is not a Hub repo; use ResolveAsync for local models.", nameof(model));
        files ??= new PipelineFileOptions();
        var (repoId, revision) = (model.RepoId!, model.Revision);

        RepoInfo info;
        if (Options.Offline) return FromCache(model, files, progress, null);
        // A commit sha pins the content: a complete cached snapshot needs no network at all.
        if (HubCache.IsCommitHash(revision) && TryFromCache(model, files, progress) is { } pinned) return pinned;
        try
        {
            info = await GetRepoInfoAsync(repoId, revision, ct);
        }
        catch (HubException e) when (e.Kind is not (HubErrorKind.RevisionNotFound or HubErrorKind.Integrity))
        {
            // Like snapshot_download: no connection, Hub down or a token that stopped working → use the cache if it has this revision.
            return FromCache(model, files, progress, e);
        }

        // Every file is fetched by commit sha, so a branch moving mid-download cannot mix two commits.
        var commit = info.Sha;
        Cache.WriteRef(repoId, revision, commit);
        var listing = info.Files.ToHashSet(StringComparer.Ordinal);
        if (!listing.Contains(PipelineFiles.ModelIndexName))
            throw new HubException(HubErrorKind.Unsupported,
                $"{model} is not a diffusers pipeline (no model_index.json). Single-file checkpoints on the Hub are not fetched: download the .safetensors and pass its path.");

        await DownloadFileAsync(repoId, PipelineFiles.ModelIndexName, commit, progress, ct);
        var snapshot = Cache.SnapshotFolder(repoId, commit);
        var index = ModelIndex.Load(snapshot);
        foreach (var file in PipelineFiles.Select(model.ToString(), listing, index, files).Skip(1))
        {
            var local = await DownloadFileAsync(repoId, file, commit, progress, ct);
            if (!IsShardIndex(file)) continue;
            foreach (var shard in PipelineFiles.Shards(model.ToString(), file, local))
            {
                if (!listing.Contains(shard))
                    throw new HubException(HubErrorKind.Unsupported, $"{model}: {file} lists {shard}, which is not in the repository.");
                await DownloadFileAsync(repoId, shard, commit, progress, ct);
            }
        }
        return snapshot;
    }

    public string DownloadPipeline(ModelRef model, PipelineFileOptions? files = null, IProgress<HubProgress>? progress = null) =>
        DownloadPipelineAsync(model, files, progress).GetAwaiter().GetResult();

    private string? TryFromCache(ModelRef model, PipelineFileOptions files, IProgress<HubProgress>? progress)
    {
        try
        {
            return FromCache(model, files, progress, null);
        }
        catch (HubException e) when (e.Kind == HubErrorKind.NotCached)
        {
            return null;
        }
    }

    /// <summary>The cached snapshot for the revision, checked to hold every file the pipeline needs.</summary>
    /// <param name="why">The failed Hub call, or null when offline.</param>
    private string FromCache(ModelRef model, PipelineFileOptions files, IProgress<HubProgress>? progress, HubException? why)
    {
        var (repoId, revision) = (model.RepoId!, model.Revision);
        var commit = Cache.ResolveCommit(repoId, revision);
        var snapshot = commit is null ? null : Cache.SnapshotFolder(repoId, commit);
        if (snapshot is null || !HubCache.Present(Path.Combine(snapshot, PipelineFiles.ModelIndexName)))
            throw why switch
            {
                null => new HubException(HubErrorKind.NotCached,
                    $"{model} is not in the Hugging Face cache ({Cache.RepoFolder(repoId)}) and HF_HUB_OFFLINE is set: unset HF_HUB_OFFLINE to download it."),
                { Kind: HubErrorKind.Network } => new HubException(HubErrorKind.Network, $"{why.Message.TrimEnd('.')}; {model} is not in the cache ({Cache.RepoFolder(repoId)}).", why),
                _ => why,
            };

        var listing = Cache.ListSnapshotFiles(repoId, commit!).ToHashSet(StringComparer.Ordinal);
        var advice = why is null ? "unset HF_HUB_OFFLINE to download the rest" : $"the Hub could not be asked ({why.Message.TrimEnd('.')})";
        var found = new List<string>();
        try
        {
            foreach (var file in PipelineFiles.Select(model.ToString(), listing, ModelIndex.Load(snapshot), files))
            {
                Require(file);
                if (!IsShardIndex(file)) continue;
                foreach (var shard in PipelineFiles.Shards(model.ToString(), file, Path.Combine(snapshot, file))) Require(shard);
            }
        }
        catch (HubException e) when (e.Kind == HubErrorKind.Unsupported)
        {
            // Judged on the cached files only: a component missing here may well exist on the Hub.
            throw new HubException(HubErrorKind.NotCached, $"The cached snapshot {snapshot} is incomplete or unusable: {e.Message.TrimEnd('.')}; {advice}.", e);
        }
        foreach (var file in found) Cached(Path.Combine(snapshot, file), file, progress); // only once all are there
        return snapshot;

        void Require(string file)
        {
            if (!listing.Contains(file))
                throw new HubException(HubErrorKind.NotCached, $"{file} of {model} (commit {commit}) is not in the Hugging Face cache ({snapshot}); {advice}.");
            found.Add(file);
        }
    }

    // "model.safetensors.index.json", "model.safetensors.index.fp16.json", "model.fp16.safetensors.index.json".
    private static bool IsShardIndex(string file) => file.Contains(".safetensors.index", StringComparison.Ordinal) && file.EndsWith(".json", StringComparison.Ordinal);
}
