namespace DreamBooth.Tests.Hub;

using DreamBooth.Hub;

public class HubCacheTests
{
    private const string Commit = "0123456789abcdef0123456789abcdef01234567";

    [Theory]
    [InlineData("\"abc123\"", "abc123")]
    [InlineData("W/\"abc123\"", "abc123")]
    [InlineData("abc123", "abc123")]
    [InlineData(null, null)]
    public void NormalizeEtag_QuotedOrWeak_GivesBlobName(string? header, string? expected)
    {
        Assert.Equal(expected, HubCache.NormalizeEtag(header));
    }

    [Fact]
    public void RepoFolder_RepoId_UsesPythonFolderName()
    {
        var cache = new HubCache("/cache");

        Assert.Equal("models--stabilityai--stable-diffusion-xl-base-1.0", HubCache.RepoFolderName("stabilityai/stable-diffusion-xl-base-1.0"));
        Assert.Equal(Path.Combine("/cache", "models--a--b", "blobs", "e"), cache.BlobPath("a/b", "e"));
        Assert.Equal(Path.Combine("/cache", ".locks", "models--a--b", "e.lock"), cache.LockPath("a/b", "e"));
    }

    [Fact]
    public void TryGetCachedFile_CacheLaidOutByPython_FoundThroughRefs()
    {
        using var tmp = new TempDir();
        // What huggingface_hub leaves behind: blob, relative symlink in the snapshot, refs/main without newline.
        var repo = tmp.Sub("models--org--name");
        Directory.CreateDirectory(Path.Combine(repo, "blobs"));
        Directory.CreateDirectory(Path.Combine(repo, "snapshots", Commit, "unet"));
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        File.WriteAllText(Path.Combine(repo, "blobs", "feedbeef"), "{}");
        File.CreateSymbolicLink(Path.Combine(repo, "snapshots", Commit, "unet", "config.json"), "../../../blobs/feedbeef");
        File.WriteAllText(Path.Combine(repo, "refs", "main"), Commit);
        var cache = new HubCache(tmp.Path);

        var found = cache.TryGetCachedFile("org/name", "unet/config.json");

        Assert.Equal(Path.Combine(repo, "snapshots", Commit, "unet", "config.json"), found);
        Assert.Equal("{}", File.ReadAllText(found!));
        Assert.Equal(found, cache.TryGetCachedFile("org/name", "unet/config.json", Commit));
        Assert.Null(cache.TryGetCachedFile("org/name", "unet/config.json", "other-branch"));
        Assert.Null(cache.TryGetCachedFile("org/name", "vae/config.json"));
        Assert.Equal(["unet/config.json"], cache.ListSnapshotFiles("org/name", Commit));
    }

    [Fact]
    public void Link_NestedPointer_RelativeSymlinkIntoBlobs()
    {
        using var tmp = new TempDir();
        var cache = new HubCache(tmp.Path);
        var blob = cache.BlobPath("org/name", "abc");
        Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
        File.WriteAllText(blob, "data");
        var top = cache.PointerPath("org/name", Commit, "model_index.json");
        var nested = cache.PointerPath("org/name", Commit, "unet/config.json");

        HubCache.Link(blob, top, newBlob: false);
        HubCache.Link(blob, nested, newBlob: false);
        HubCache.Link(blob, nested, newBlob: false); // relinking replaces

        Assert.Equal("../../blobs/abc", new FileInfo(top).LinkTarget);
        Assert.Equal("../../../blobs/abc", new FileInfo(nested).LinkTarget);
        Assert.Equal("data", File.ReadAllText(nested));
    }

    [Fact]
    public void WriteRef_BranchAndPullRequestRef_StoredAsPythonDoes()
    {
        using var tmp = new TempDir();
        var cache = new HubCache(tmp.Path);

        cache.WriteRef("org/name", "main", Commit);
        cache.WriteRef("org/name", "refs/pr/1", Commit);
        cache.WriteRef("org/name", Commit, Commit); // a commit needs no ref

        Assert.Equal(Commit, File.ReadAllText(tmp.Sub("models--org--name", "refs", "main")));
        Assert.Equal(Commit, File.ReadAllText(tmp.Sub("models--org--name", "refs", "refs", "pr", "1")));
        Assert.Equal(["main", "refs"], Directory.GetFileSystemEntries(tmp.Sub("models--org--name", "refs")).Select(Path.GetFileName).Order());
        Assert.Equal(Commit, cache.ResolveCommit("org/name", "refs/pr/1"));
    }

    [Theory]
    [InlineData("../escape.json")]
    [InlineData("unet/../../x")]
    [InlineData("/abs")]
    public void PointerPath_PathLeavingSnapshot_Refused(string repoPath)
    {
        var error = Assert.Throws<HubException>(() => new HubCache("/cache").PointerPath("org/name", Commit, repoPath));

        Assert.Equal(HubErrorKind.Integrity, error.Kind);
    }

    [Fact]
    public void BlobPath_EtagWithSlash_Refused()
    {
        Assert.Throws<HubException>(() => new HubCache("/cache").BlobPath("org/name", "../../evil"));
    }
}
