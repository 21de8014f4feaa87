namespace DreamBooth.Tests.Cli;

using System.Text.Json;
using DreamBooth.Tests.Hub;

/// <summary>`dreambooth inspect org/name` through a fake hub on 127.0.0.1, then offline from the cache it filled.</summary>
[Collection(ProcessEnvironment.Name)]
public sealed class InspectHubTests : IDisposable
{
    private readonly string cache = Directory.CreateTempSubdirectory("hub-cli").FullName;
    private readonly Dictionary<string, string?> saved = new();

    private void SetEnv(string name, string? value)
    {
        if (!saved.ContainsKey(name)) saved[name] = Environment.GetEnvironmentVariable(name);
        Environment.SetEnvironmentVariable(name, value);
    }

    public void Dispose()
    {
        foreach (var (name, value) in saved) Environment.SetEnvironmentVariable(name, value);
        Directory.Delete(cache, true);
    }

    [Fact]
    public void Inspect_RepoId_FillsHubCacheThenWorksOfflineWithServerStopped()
    {
        SetEnv("HF_HUB_CACHE", cache);
        SetEnv("HF_TOKEN", null);
        SetEnv("HF_HUB_OFFLINE", null);
        string online;
        using (var hub = new FakeHub(HubTestData.Sd15Repo("org/name")))
        {
            SetEnv("HF_ENDPOINT", hub.Endpoint);
            var (code, output) = CliRunner.Run("inspect", "org/name", "--json");
            Assert.True(code == 0, output);
            online = output;
        }
        var repo = Path.Combine(cache, "models--org--name");
        Assert.True(File.Exists(Path.Combine(repo, "refs", "main")));
        var sha = File.ReadAllText(Path.Combine(repo, "refs", "main")).Trim();
        Assert.True(File.Exists(Path.Combine(repo, "snapshots", sha, "unet", "diffusion_pytorch_model.safetensors")));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(repo, "blobs")));

        SetEnv("HF_HUB_OFFLINE", "1");
        var (offlineCode, offline) = CliRunner.Run("inspect", "org/name", "--json");
        Assert.True(offlineCode == 0, offline);
        Assert.Equal(online, offline);
        using var doc = JsonDocument.Parse(offline);
        var unet = doc.RootElement.GetProperty("components").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "unet");
        Assert.Equal(1_388_548, unet.GetProperty("parameters").GetInt64());
    }

    [Fact]
    public void Inspect_RepoIdOfflineAndNotCached_OneLineError()
    {
        SetEnv("HF_HUB_CACHE", cache);
        SetEnv("HF_HUB_OFFLINE", "1");
        var (code, output) = CliRunner.Run("inspect", "org/never-downloaded");
        Assert.Equal(1, code);
        Assert.StartsWith("error: ", output);
        Assert.Single(output.Trim().Split('\n'));
    }
}

/// <summary>Tests that change process environment variables run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironment
{
    public const string Name = "process environment";
}
