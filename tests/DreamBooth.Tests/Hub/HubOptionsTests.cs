namespace DreamBooth.Tests.Hub;

using DreamBooth.Hub;

public class HubOptionsTests
{
    private const string Home = "/home/someone";

    private static HubOptions From(params (string Name, string Value)[] env)
    {
        var vars = env.ToDictionary(e => e.Name, e => e.Value);
        return HubOptions.FromEnvironment(name => vars.GetValueOrDefault(name), Home);
    }

    [Fact]
    public void FromEnvironment_NothingSet_UsesDefaults()
    {
        var options = From();

        Assert.Equal("/home/someone/.cache/huggingface/hub", options.CacheDir);
        Assert.Equal("https://huggingface.co", options.Endpoint);
        Assert.False(options.Offline);
    }

    [Fact]
    public void FromEnvironment_CacheVariables_HubCacheThenLegacyThenHfHomeThenXdg()
    {
        Assert.Equal("/c/hub", From(("HF_HUB_CACHE", "/c/hub"), ("HUGGINGFACE_HUB_CACHE", "/c/legacy"), ("HF_HOME", "/c/home"), ("XDG_CACHE_HOME", "/c/xdg")).CacheDir);
        Assert.Equal("/c/legacy", From(("HUGGINGFACE_HUB_CACHE", "/c/legacy"), ("HF_HOME", "/c/home"), ("XDG_CACHE_HOME", "/c/xdg")).CacheDir);
        Assert.Equal("/c/home/hub", From(("HF_HOME", "/c/home"), ("XDG_CACHE_HOME", "/c/xdg")).CacheDir);
        Assert.Equal("/c/xdg/huggingface/hub", From(("XDG_CACHE_HOME", "/c/xdg")).CacheDir);
        Assert.Equal("/home/someone/hf/hub", From(("HF_HOME", "~/hf")).CacheDir);
        Assert.Equal("/home/someone/.cache/huggingface/hub", From(("HF_HUB_CACHE", "")).CacheDir); // empty = unset
    }

    [Fact]
    public void FromEnvironment_EndpointAndOffline_Parsed()
    {
        var options = From(("HF_ENDPOINT", "http://mirror.local:8080/"), ("HF_HUB_OFFLINE", "1"));

        Assert.Equal("http://mirror.local:8080", options.Endpoint);
        Assert.True(options.Offline);
        Assert.True(From(("HF_HUB_OFFLINE", "yes")).Offline);
        Assert.True(From(("TRANSFORMERS_OFFLINE", "TRUE")).Offline);
        Assert.False(From(("HF_HUB_OFFLINE", "0")).Offline);
    }

    [Fact]
    public void FromEnvironment_Token_EnvironmentBeatsTokenFile()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp.Sub("token"), "  hf_from_file\r\n");

        var fromFile = From(("HF_HOME", tmp.Path));
        var fromEnv = From(("HF_HOME", tmp.Path), ("HF_TOKEN", "hf_from_env"));
        var legacy = From(("HF_HOME", tmp.Path), ("HUGGING_FACE_HUB_TOKEN", "hf_legacy"));

        Assert.Equal("hf_from_file", fromFile.Token);
        Assert.Equal(tmp.Sub("token"), fromFile.TokenSource);
        Assert.Equal("hf_from_env", fromEnv.Token);
        Assert.Equal("HF_TOKEN", fromEnv.TokenSource);
        Assert.Equal("hf_legacy", legacy.Token);
    }

    [Fact]
    public void FromEnvironment_NoTokenAnywhere_IsAnonymous()
    {
        using var tmp = new TempDir();
        var options = From(("HF_HOME", tmp.Path), ("HF_TOKEN", "  \n"));

        Assert.Null(options.Token);
        Assert.Null(options.TokenSource);
    }
}
