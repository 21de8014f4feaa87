namespace DreamBooth.Hub;

/// <summary>
/// Progress of one file: <see cref="Done"/> of <see cref="Total"/> bytes (Total null when the server did not say).
/// <see cref="Cached"/> is true for a file found in the cache (reported once, complete). The last report of a
/// downloaded file has Done == Total.
/// </summary>
public readonly record struct HubProgress(string File, long Done, long? Total, bool Cached = false)
{
    /// <summary>An <see cref="IProgress{T}"/> that calls <paramref name="report"/> synchronously on the downloading
    /// thread (unlike <see cref="Progress{T}"/>, which posts to the thread pool and can reorder reports).</summary>
    public static IProgress<HubProgress> Callback(Action<HubProgress> report) => new SyncProgress<HubProgress>(report);

    /// <summary>Adapter for a plain (file, done, total) callback; total is -1 when unknown.</summary>
    public static IProgress<HubProgress> Callback(Action<string, long, long> report) =>
        new SyncProgress<HubProgress>(p => report(p.File, p.Done, p.Total ?? -1));
}
