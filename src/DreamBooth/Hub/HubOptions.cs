// Mirrors huggingface_hub v0.22.2 constants.py (HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE) and utils/_token.py::get_token.
namespace DreamBooth.Hub;

/// <summary>
/// Everything the Hub client reads from the environment, as plain values: tests build one directly, the CLI calls
/// <see cref="FromEnvironment"/>, so no code below this point touches process-wide state.
/// </summary>
public sealed record HubOptions
{
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>Hub base URL without trailing slash (HF_ENDPOINT).</summary>
    public string Endpoint { get; init; } = DefaultEndpoint;

    /// <summary>Bearer token (HF_TOKEN, else the token file), or null for anonymous access.</summary>
    public string? Token { get; init; }

    /// <summary>HF_HUB_OFFLINE: never touch the network, resolve everything from the cache.</summary>
    public bool Offline { get; init; }

    /// <summary>The hub cache root (the folder holding models--org--name/).</summary>
    public required string CacheDir { get; init; }

    /// <summary>Limit for metadata requests (HEAD and the repo listing), like huggingface_hub's 10 s etag timeout.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest wait for the next chunk of a download before it counts as interrupted.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How many times an interrupted download is resumed without receiving new data before giving up.</summary>
    public int DownloadRetries { get; init; } = 5;

    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Where the token was taken from, for messages ("HF_TOKEN", a file path, or null).</summary>
    public string? TokenSource { get; init; }

    /// <summary>Reads the process environment.</summary>
    public static HubOptions FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary>Reads variables through <paramref name="getEnv"/> (tests pass a dictionary lookup).</summary>
    public static HubOptions FromEnvironment(Func<string, string?> getEnv, string? home = null)
    {
        home ??= NonEmpty(getEnv("HOME")) ?? NonEmpty(getEnv("USERPROFILE")) ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var hfHome = HfHome(getEnv, home);

        var (token, tokenSource) = (Clean(getEnv("HF_TOKEN")), "HF_TOKEN");
        if (token is null) (token, tokenSource) = (Clean(getEnv("HUGGING_FACE_HUB_TOKEN")), "HUGGING_FACE_HUB_TOKEN");
        if (token is null)
        {
            var tokenFile = Path.Combine(hfHome, "token");
            (token, tokenSource) = (File.Exists(tokenFile) ? Clean(File.ReadAllText(tokenFile)) : null, tokenFile);
        }

        return new HubOptions
        {
            Endpoint = (NonEmpty(getEnv("HF_ENDPOINT")) ?? DefaultEndpoint).TrimEnd('/'),
            Token = token,
            TokenSource = token is null ? null : tokenSource,
            Offline = IsTrue(getEnv("HF_HUB_OFFLINE")) || IsTrue(getEnv("TRANSFORMERS_OFFLINE")),
            CacheDir = CacheRoot(getEnv, home),
        };
    }

    /// <summary>HF_HUB_CACHE, else the legacy HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub (HF_HOME defaulting to $XDG_CACHE_HOME/huggingface or ~/.cache/huggingface).</summary>
    public static string CacheRoot(Func<string, string?> getEnv, string home) =>
        Expand(NonEmpty(getEnv("HF_HUB_CACHE")) ?? NonEmpty(getEnv("HUGGINGFACE_HUB_CACHE")), home) ?? Path.Combine(HfHome(getEnv, home), "hub");

    private static string HfHome(Func<string, string?> getEnv, string home) =>
        Expand(NonEmpty(getEnv("HF_HOME")), home) ??
        Path.Combine(Expand(NonEmpty(getEnv("XDG_CACHE_HOME")), home) ?? Path.Combine(home, ".cache"), "huggingface");

    private static string? Expand(string? path, string home) => path switch
    {
        null => null,
        "~" => home,
        _ when path.StartsWith("~/", StringComparison.Ordinal) => Path.Combine(home, path[2..]),
        _ => path,
    };

    private static bool IsTrue(string? value) => value?.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    // Like huggingface_hub: drop newlines, trim, and treat an empty token as none.
    private static string? Clean(string? token) => NonEmpty(token?.Replace("\r", "").Replace("\n", "").Trim());
}
