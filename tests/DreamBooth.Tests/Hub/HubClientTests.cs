namespace DreamBooth.Tests.Hub;

using DreamBooth.Hub;

public class HubClientTests
{
    private static readonly ModelRef Sd15 = ModelRef.Parse("org/sd15-tiny");

    [Fact]
    public async Task DownloadPipeline_EmptyCache_FillsPythonLayoutWithOnlyNeededFiles()
    {
        var repo = HubTestData.Sd15Repo();
        using var hub = new FakeHub(repo);
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));

        var snapshot = await client.DownloadPipelineAsync(Sd15);

        var repoFolder = tmp.Sub("models--org--sd15-tiny");
        Assert.Equal(Path.Combine(repoFolder, "snapshots", repo.Sha), snapshot);
        Assert.Equal(repo.Sha, File.ReadAllText(Path.Combine(repoFolder, "refs", "main"))); // no trailing newline, like Python
        Assert.Equal(HubTestData.Sd15Needed.Order(StringComparer.Ordinal), client.Cache.ListSnapshotFiles(repo.Id, repo.Sha));
        foreach (var file in HubTestData.Sd15Needed)
        {
            var pointer = Path.Combine([snapshot, .. file.Split('/')]);
            var etag = FakeRepo.Etag(file, repo.Files[file]);
            // A relative symlink to ../../blobs/<etag> (one more ../ per sub folder), exactly as huggingface_hub makes it.
            var depth = file.Count(c => c == '/');
            Assert.Equal(string.Concat(Enumerable.Repeat("../", depth + 2)) + "blobs/" + etag, new FileInfo(pointer).LinkTarget);
            Assert.Equal(repo.Files[file], File.ReadAllBytes(pointer));
        }
        var blobs = Directory.GetFiles(Path.Combine(repoFolder, "blobs")).Select(f => Path.GetFileName(f)).ToHashSet();
        Assert.Equal(HubTestData.Sd15Needed.Select(f => FakeRepo.Etag(f, repo.Files[f])).ToHashSet(), blobs);
        foreach (var decoy in HubTestData.Decoys) Assert.Empty(hub.RequestsFor(decoy));
        Assert.True(File.Exists(Path.Combine(snapshot, "unet", "diffusion_pytorch_model.safetensors")));
    }

    [Fact]
    public async Task DownloadPipeline_ServerStoppedAndOffline_ResolvesFromCache()
    {
        using var tmp = new TempDir();
        string online;
        using (var hub = new FakeHub(HubTestData.Sd15Repo()))
        using (var client = new HubClient(HubTestData.Options(tmp.Path, hub)))
            online = await client.DownloadPipelineAsync(Sd15);

        var seen = new List<HubProgress>();
        using var offline = new HubClient(HubTestData.Options(tmp.Path) with { Offline = true });
        var snapshot = await offline.ResolveAsync(Sd15, progress: HubProgress.Callback(seen.Add));

        Assert.Equal(online, snapshot);
        var sizes = HubTestData.Sd15Repo().Files;
        Assert.All(seen, p => Assert.Equal(new HubProgress(p.File, sizes[p.File].Length, sizes[p.File].Length, Cached: true), p));
        Assert.Equal(HubTestData.Sd15Needed.Order(StringComparer.Ordinal), seen.Select(p => p.File).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task DownloadPipeline_SecondCallOnline_OnlyListsTheRepo()
    {
        using var hub = new FakeHub(HubTestData.Sd15Repo());
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));
        await client.DownloadPipelineAsync(Sd15);
        var before = hub.Requests.Count;

        await client.DownloadPipelineAsync(Sd15);

        var again = hub.Requests.Skip(before).ToList();
        Assert.Equal(["GET /api/models/org/sd15-tiny/revision/main"], again.Select(r => $"{r.Method} {r.Target}"));
    }

    [Fact]
    public async Task DownloadPipeline_CommitRevisionFullyCached_NoRequestAtAll()
    {
        var repo = HubTestData.Sd15Repo();
        using var hub = new FakeHub(repo);
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));
        var pinned = ModelRef.Parse($"org/sd15-tiny@{repo.Sha}");
        var first = await client.DownloadPipelineAsync(pinned);
        Assert.False(File.Exists(tmp.Sub("models--org--sd15-tiny", "refs", repo.Sha))); // a commit needs no ref
        var before = hub.Requests.Count;

        Assert.Equal(first, await client.DownloadPipelineAsync(pinned));
        Assert.Equal(before, hub.Requests.Count);
    }

    [Fact]
    public async Task DownloadPipeline_Fp16Variant_TakesVariantWhereItExistsAndPlainElsewhere()
    {
        var repo = HubTestData.Sd15Repo();
        using var hub = new FakeHub(repo);
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));

        await client.DownloadPipelineAsync(Sd15, new PipelineFileOptions { Variant = "fp16" });

        var files = client.Cache.ListSnapshotFiles(repo.Id, repo.Sha);
        Assert.Contains("vae/diffusion_pytorch_model.fp16.safetensors", files);
        Assert.Contains("text_encoder/model.fp16.safetensors", files);
        Assert.Contains("unet/diffusion_pytorch_model.safetensors", files); // unet has only a pickled fp16 file
        Assert.DoesNotContain("vae/diffusion_pytorch_model.safetensors", files);
        Assert.DoesNotContain("unet/diffusion_pytorch_model.fp16.bin", files);
    }

    [Fact]
    public async Task DownloadPipeline_InterruptedDownload_LeavesIncompleteThenResumesWithRange()
    {
        var repo = HubTestData.Sd15Repo();
        const string unet = "unet/diffusion_pytorch_model.safetensors";
        const long cut = 1_000_000;
        using var hub = new FakeHub(repo);
        hub.CutAt(unet, cut);
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub) with { DownloadRetries = 2 });

        var error = await Assert.ThrowsAsync<HubException>(() => client.DownloadPipelineAsync(Sd15));

        Assert.Equal(HubErrorKind.Network, error.Kind);
        Assert.Contains(unet, error.Message);
        var sha = repo.Sha256ByPath[unet];
        var blob = tmp.Sub("models--org--sd15-tiny", "blobs", sha);
        Assert.False(File.Exists(blob));
        Assert.Equal(cut, new FileInfo(blob + ".incomplete").Length);
        Assert.Null(client.Cache.TryGetCachedFile(repo.Id, unet));
        Assert.False(File.Exists(Path.Combine(client.Cache.SnapshotFolder(repo.Id, repo.Sha), "unet", "diffusion_pytorch_model.safetensors")));

        hub.ClearCuts();
        var before = hub.Requests.Count;
        await client.DownloadPipelineAsync(Sd15);

        var resumed = hub.Requests.Skip(before).Where(r => r.Server == "cdn" && r.Target == "/cdn/" + sha).ToList();
        Assert.Equal($"bytes={cut}-", Assert.Single(resumed).Header("Range"));
        Assert.False(File.Exists(blob + ".incomplete"));
        Assert.Equal(repo.Files[unet], File.ReadAllBytes(client.Cache.TryGetCachedFile(repo.Id, unet)!));
    }

    [Fact]
    public async Task DownloadFile_ConnectionDropsOnce_ResumesWithinTheSameCall()
    {
        var repo = HubTestData.Sd15Repo();
        const string vae = "vae/diffusion_pytorch_model.safetensors";
        using var hub = new FakeHub(repo);
        hub.CutAt(vae, 123_457, times: 1);
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));
        var seen = new List<HubProgress>();

        var path = await client.DownloadFileAsync(repo.Id, vae, progress: HubProgress.Callback(seen.Add));

        Assert.Equal(repo.Files[vae], File.ReadAllBytes(path));
        var cdn = hub.Requests.Where(r => r.Server == "cdn").ToList();
        Assert.Equal([null, "bytes=123457-"], cdn.Select(r => r.Header("Range")));
        Assert.Equal(new HubProgress(vae, repo.Files[vae].Length, repo.Files[vae].Length), seen[^1]);
    }

    [Fact]
    public async Task DownloadFile_EndlessBodyWithoutLength_StoppedPastTheAnnouncedSize()
    {
        // A CDN streaming forever filled the disk although X-Linked-Size had announced the real size.
        var repo = HubTestData.Sd15Repo();
        const string vae = "vae/diffusion_pytorch_model.safetensors";
        using var hub = new FakeHub(repo);
        hub.Endless(vae);
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));

        var e = await Assert.ThrowsAsync<HubException>(() => client.DownloadFileAsync(repo.Id, vae));

        Assert.Equal(HubErrorKind.Integrity, e.Kind);
        Assert.Contains($"more than the announced {repo.Files[vae].Length:N0} bytes", e.Message);
        Assert.True(hub.EndlessBytesSent < 64L << 20, $"{hub.EndlessBytesSent:N0} bytes sent before the client stopped");
        Assert.DoesNotContain(Directory.EnumerateFiles(tmp.Path, "*", SearchOption.AllDirectories), f => new FileInfo(f).Length > repo.Files[vae].Length);
    }

    [Fact]
    public async Task DownloadFile_SameFileTwiceInParallel_DownloadedOnce()
    {
        var repo = HubTestData.Sd15Repo();
        const string unet = "unet/diffusion_pytorch_model.safetensors";
        using var hub = new FakeHub(repo);
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));

        var paths = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(() => client.DownloadFileAsync(repo.Id, unet))));

        Assert.All(paths, p => Assert.Equal(paths[0], p));
        Assert.Single(hub.Requests, r => r.Server == "cdn");
        Assert.Equal(repo.Files[unet], File.ReadAllBytes(paths[0]));
    }

    [Fact]
    public async Task DownloadPipeline_RenamedRepo_FollowsRelativeRedirects()
    {
        var repo = HubTestData.Sd15Repo();
        using var hub = new FakeHub(repo);
        hub.Renamed["old-org/old-name"] = repo.Id;
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));

        var snapshot = await client.DownloadPipelineAsync(ModelRef.Parse("old-org/old-name"));

        // Cached under the name that was asked for, as huggingface_hub does.
        Assert.Equal(tmp.Sub("models--old-org--old-name", "snapshots", repo.Sha), snapshot);
        Assert.Equal(repo.Files["unet/config.json"], File.ReadAllBytes(Path.Combine(snapshot, "unet", "config.json")));
        Assert.Contains(hub.Requests, r => r.Method == "HEAD" && r.Target.StartsWith("/org/sd15-tiny/resolve/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DownloadPipeline_Token_SentToHubButNotToCdn()
    {
        using var hub = new FakeHub(HubTestData.Sd15Repo()) { RequiredToken = "hf_secret" };
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub) with { Token = "hf_secret" });

        await client.DownloadPipelineAsync(Sd15);

        Assert.All(hub.Requests.Where(r => r.Server == "hub"), r => Assert.Equal("Bearer hf_secret", r.Header("Authorization")));
        var cdn = hub.Requests.Where(r => r.Server == "cdn").ToList();
        Assert.Equal(3, cdn.Count); // text_encoder, unet, vae weights
        Assert.All(cdn, r => Assert.Null(r.Header("Authorization")));
    }

    [Fact]
    public async Task DownloadPipeline_PrivateRepoWithoutToken_401SaysSetHfToken()
    {
        using var hub = new FakeHub(HubTestData.Sd15Repo()) { RequiredToken = "hf_secret" };
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));

        var error = await Assert.ThrowsAsync<HubException>(() => client.DownloadPipelineAsync(Sd15));

        Assert.Equal(HubErrorKind.Unauthorized, error.Kind);
        Assert.Equal(401, error.StatusCode);
        Assert.Contains("HF_TOKEN", error.Message);
        Assert.Contains("org/sd15-tiny", error.Message);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public async Task DownloadPipeline_GatedRepoWithWrongToken_403SaysAcceptConditions()
    {
        using var hub = new FakeHub(HubTestData.Sd15Repo()) { RequiredToken = "hf_right", Gated = true };
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub) with { Token = "hf_wrong", TokenSource = "HF_TOKEN" });

        var error = await Assert.ThrowsAsync<HubException>(() => client.DownloadPipelineAsync(Sd15));

        Assert.Equal(HubErrorKind.Forbidden, error.Kind);
        Assert.Contains("gated", error.Message);
        Assert.Contains($"{hub.Endpoint}/org/sd15-tiny", error.Message);
        Assert.Contains("HF_TOKEN", error.Message);
    }

    [Fact]
    public async Task DownloadPipeline_UnknownRepo_404SaysNotFound()
    {
        using var hub = new FakeHub(HubTestData.Sd15Repo());
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));

        var error = await Assert.ThrowsAsync<HubException>(() => client.DownloadPipelineAsync(ModelRef.Parse("org/nope")));

        Assert.Equal(HubErrorKind.RepoNotFound, error.Kind);
        Assert.StartsWith("org/nope: repository not found", error.Message);
    }

    [Fact]
    public async Task DownloadPipeline_UnknownRevision_SaysRevisionNotFound()
    {
        using var hub = new FakeHub(HubTestData.Sd15Repo());
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));

        var error = await Assert.ThrowsAsync<HubException>(() => client.DownloadPipelineAsync(ModelRef.Parse("org/sd15-tiny@v9")));

        Assert.Equal(HubErrorKind.RevisionNotFound, error.Kind);
        Assert.Contains("'v9'", error.Message);
    }

    [Fact]
    public async Task DownloadFile_MissingFile_404NamesTheFile()
    {
        using var hub = new FakeHub(HubTestData.Sd15Repo());
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));

        var error = await Assert.ThrowsAsync<HubException>(() => client.DownloadFileAsync("org/sd15-tiny", "unet/missing.json"));

        Assert.Equal(HubErrorKind.EntryNotFound, error.Kind);
        Assert.Contains("'unet/missing.json'", error.Message);
    }

    [Fact]
    public async Task DownloadPipeline_TagRevision_WritesRefForTheTag()
    {
        var repo = HubTestData.Sd15Repo();
        repo.Tags.Add("v1.0");
        using var hub = new FakeHub(repo);
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));

        var snapshot = await client.DownloadPipelineAsync(ModelRef.Parse("org/sd15-tiny@v1.0"));

        Assert.EndsWith(repo.Sha, snapshot);
        Assert.Equal(repo.Sha, File.ReadAllText(tmp.Sub("models--org--sd15-tiny", "refs", "v1.0")));
        // Files are fetched by commit, so a branch moving mid-download cannot mix commits.
        Assert.All(hub.Requests.Where(r => r.Target.Contains("/resolve/")), r => Assert.Contains($"/resolve/{repo.Sha}/", r.Target));
    }

    [Fact]
    public async Task DownloadPipeline_OfflineNothingCached_SaysNotCachedAndUnsetOffline()
    {
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path) with { Offline = true });

        var error = await Assert.ThrowsAsync<HubException>(() => client.DownloadPipelineAsync(Sd15));

        Assert.Equal(HubErrorKind.NotCached, error.Kind);
        Assert.Contains("org/sd15-tiny", error.Message);
        Assert.Contains("HF_HUB_OFFLINE", error.Message);
    }

    [Fact]
    public async Task DownloadPipeline_OfflineWeightMissingFromCache_NamesTheFile()
    {
        var repo = HubTestData.Sd15Repo();
        using var tmp = new TempDir();
        using (var hub = new FakeHub(repo))
        using (var client = new HubClient(HubTestData.Options(tmp.Path, hub)))
            await client.DownloadPipelineAsync(Sd15);
        File.Delete(tmp.Sub("models--org--sd15-tiny", "blobs", repo.Sha256ByPath["unet/diffusion_pytorch_model.safetensors"])); // leaves a dangling link

        using var offline = new HubClient(HubTestData.Options(tmp.Path) with { Offline = true });
        var error = await Assert.ThrowsAsync<HubException>(() => offline.DownloadPipelineAsync(Sd15));

        Assert.Equal(HubErrorKind.NotCached, error.Kind);
        Assert.Contains("unet", error.Message);
        Assert.Contains("HF_HUB_OFFLINE", error.Message);
    }

    [Fact]
    public async Task DownloadPipeline_HubUnreachableNothingCached_MentionsOfflineMode()
    {
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path)); // endpoint port 9: connection refused

        var error = await Assert.ThrowsAsync<HubException>(() => client.DownloadPipelineAsync(Sd15));

        Assert.Equal(HubErrorKind.Network, error.Kind);
        Assert.Contains("Cannot reach http://127.0.0.1:9", error.Message);
        Assert.Contains("HF_HUB_OFFLINE=1", error.Message);
    }

    [Fact]
    public async Task DownloadPipeline_HubUnreachableButCached_UsesTheCache()
    {
        using var tmp = new TempDir();
        string online;
        using (var hub = new FakeHub(HubTestData.Sd15Repo()))
        using (var client = new HubClient(HubTestData.Options(tmp.Path, hub)))
            online = await client.DownloadPipelineAsync(Sd15);

        using var unreachable = new HubClient(HubTestData.Options(tmp.Path));
        Assert.Equal(online, await unreachable.DownloadPipelineAsync(Sd15));
    }

    [Fact]
    public async Task DownloadPipeline_ComponentWithOnlyPickles_RefusedWithReason()
    {
        var repo = HubTestData.Sd15Repo(edit: f => f.Remove("unet/diffusion_pytorch_model.safetensors"));
        using var hub = new FakeHub(repo);
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));

        var error = await Assert.ThrowsAsync<HubException>(() => client.DownloadPipelineAsync(Sd15));

        Assert.Equal(HubErrorKind.Unsupported, error.Kind);
        Assert.Contains("unet/diffusion_pytorch_model.bin", error.Message);
        Assert.Contains("arbitrary code", error.Message);
        Assert.Empty(hub.RequestsFor("unet/diffusion_pytorch_model.bin"));
    }

    [Fact]
    public async Task DownloadPipeline_ShardedComponent_FetchesIndexAndEveryShard()
    {
        var shards = new[] { "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" };
        var repo = HubTestData.Sd15Repo(edit: f =>
        {
            f.Remove("text_encoder/model.safetensors");
            f["text_encoder/model.safetensors.index.json"] = System.Text.Encoding.UTF8.GetBytes(
                $$$"""{"metadata": {"total_size": 8}, "weight_map": {"a.weight": "{{{shards[0]}}}", "b.weight": "{{{shards[1]}}}", "c.weight": "{{{shards[0]}}}"}}""");
            f["text_encoder/" + shards[0]] = [1, 2, 3, 4];
            f["text_encoder/" + shards[1]] = [5, 6, 7, 8];
        });
        using var hub = new FakeHub(repo);
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));

        var snapshot = await client.DownloadPipelineAsync(Sd15);

        var files = client.Cache.ListSnapshotFiles(repo.Id, repo.Sha);
        Assert.Contains("text_encoder/model.safetensors.index.json", files);
        Assert.All(shards, s => Assert.Contains("text_encoder/" + s, files));
        Assert.Equal([5, 6, 7, 8], File.ReadAllBytes(Path.Combine(snapshot, "text_encoder", shards[1])));

        using var offline = new HubClient(HubTestData.Options(tmp.Path) with { Offline = true });
        Assert.Equal(snapshot, await offline.DownloadPipelineAsync(Sd15));
    }

    [Fact]
    public async Task DownloadFile_ContentDoesNotMatchSha256Etag_DiscardedAndNotLinked()
    {
        var repo = HubTestData.Sd15Repo();
        const string vae = "vae/diffusion_pytorch_model.safetensors";
        using var hub = new FakeHub(repo);
        hub.Corrupt(vae);
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path, hub));

        var error = await Assert.ThrowsAsync<HubException>(() => client.DownloadFileAsync(repo.Id, vae));

        Assert.Equal(HubErrorKind.Integrity, error.Kind);
        Assert.Contains("sha256", error.Message);
        var blob = tmp.Sub("models--org--sd15-tiny", "blobs", repo.Sha256ByPath[vae]);
        Assert.False(File.Exists(blob));
        Assert.False(File.Exists(blob + ".incomplete"));
        Assert.Null(client.Cache.TryGetCachedFile(repo.Id, vae));
    }

    [Fact]
    public async Task ResolveAsync_LocalFolder_ReturnsItWithoutNetwork()
    {
        using var tmp = new TempDir();
        using var client = new HubClient(HubTestData.Options(tmp.Path) with { Offline = true });
        var folder = Fixtures.Path("sd15-tiny");

        Assert.Equal(Path.GetFullPath(folder), await client.ResolveAsync(ModelRef.Parse(folder)));
    }
}
