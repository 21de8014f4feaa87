namespace DreamBooth;

/// <summary>
/// An <see cref="IProgress{T}"/> that calls its action at once on the reporting thread, in order
/// (<see cref="Progress{T}"/> would post each report to the thread pool, out of order and after the work ended).
/// </summary>
public sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
