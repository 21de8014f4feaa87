// Mirrors huggingface_hub v0.22.2 file_download.py::http_get (resume with Range, retry while data keeps coming,
// final size check), plus a sha256 check of LFS blobs.
namespace DreamBooth.Hub;

using System.Net;
using System.Security.Cryptography;

/// <summary>Downloads one blob into its <c>.incomplete</c> file, resuming what an earlier attempt left there.</summary>
internal static class BlobDownload
{
    private const int BufferSize = 1 << 20;
    private const long ReportEvery = 256 << 10;

    /// <param name="incomplete">blobs/{etag}.incomplete; complete and verified when this returns.</param>
    /// <param name="expectedSize">From the HEAD (X-Linked-Size / Content-Length), null when unknown.</param>
    /// <param name="sha256">Expected content hash (LFS etag), or null.</param>
    public static async Task RunAsync(HubHttp http, HubOptions options, Uri url, string incomplete, long? expectedSize, string? sha256,
        string file, Func<HttpResponseMessage, HubException> onError, IProgress<HubProgress>? progress, CancellationToken ct)
    {
        await using var stream = new FileStream(incomplete, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, useAsync: true);
        using var hash = sha256 is null ? null : IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[BufferSize];

        // Resume: keep what is there unless it is already longer than the file, and hash it first.
        var have = stream.Length;
        if (expectedSize is { } size && have > size) { stream.SetLength(0); have = 0; }
        if (hash is not null && have > 0) await HashExisting(stream, hash, buffer, ct);
        stream.Position = have;
        progress?.Report(new HubProgress(file, have, expectedSize));

        var retriesLeft = options.DownloadRetries;
        var done = expectedSize is { } known && have == known;
        while (!done)
        {
            try
            {
                done = await OneRequest();
            }
            catch (Exception e) when (HubHttp.IsNetworkFailure(e, ct) || e is HubException { Kind: HubErrorKind.Network })
            {
                if (retriesLeft-- <= 0)
                    throw new HubException(HubErrorKind.Network,
                        $"Download of {file} was interrupted at {have:N0} of {(expectedSize is { } t ? t.ToString("N0") : "?")} bytes " +
                        $"({(e is HubException ? e.Message : Reason(e))}). Run the command again to resume: the partial file is kept.", e);
                await Task.Delay(options.RetryDelay, ct);
            }
        }
        await stream.FlushAsync(ct);

        if (expectedSize is { } expected && have != expected)
        {
            throw new HubException(HubErrorKind.Integrity, $"Download of {file} is {have:N0} bytes instead of {expected:N0}; it was discarded, run the command again.");
        }
        if (hash is not null)
        {
            var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (actual != sha256)
            {
                throw new HubException(HubErrorKind.Integrity, $"Download of {file} is corrupt (sha256 {actual[..12]}… instead of {sha256![..12]}…); it was discarded, run the command again.");
            }
        }
        return;

        // One GET from the current position; true once the whole file is there.
        async Task<bool> OneRequest()
        {
            using var response = await http.GetAsync(url, have, onError, ct);
            if (have > 0 && response.StatusCode != HttpStatusCode.PartialContent)
            {
                // 200: the server ignored Range; 416: what we have does not fit the file. Start over either way.
                stream.SetLength(0);
                have = 0;
                hash?.GetHashAndReset();
                if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable) return false;
            }
            var length = HubHttp.ParseLong(HubHttp.ContentHeader(response, "Content-Length"));
            var end = length is { } n ? have + n : expectedSize;
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            var reported = have;
            while (true)
            {
                int read;
                using (var readTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    readTimeout.CancelAfter(options.ReadTimeout);
                    read = await body.ReadAsync(buffer, readTimeout.Token);
                }
                if (read == 0) break;
                // Never store more than the Hub announced: a body without a length could otherwise fill the disk.
                if (expectedSize is { } announced && have + read > announced)
                {
                    stream.SetLength(0);
                    throw new HubException(HubErrorKind.Integrity,
                        $"Download of {file}: the server sent more than the announced {announced:N0} bytes; it was discarded, run the command again.");
                }
                try
                {
                    await stream.WriteAsync(buffer.AsMemory(0, read), ct);
                }
                catch (IOException diskError)
                {
                    // A local failure (disk full, ...) must not be retried as if the network had dropped.
                    throw new DreamBoothException($"Cannot write {incomplete}: {diskError.Message}", diskError);
                }
                hash?.AppendData(buffer, 0, read);
                have += read;
                retriesLeft = options.DownloadRetries; // progress was made: the retry budget starts over
                if (have - reported >= ReportEvery) { progress?.Report(new HubProgress(file, have, end)); reported = have; }
            }
            progress?.Report(new HubProgress(file, have, end ?? have));
            if (end is { } e && have < e) throw new IOException("the connection closed early");
            return true;
        }
    }

    private static async Task HashExisting(FileStream stream, IncrementalHash hash, byte[] buffer, CancellationToken ct)
    {
        stream.Position = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer, ct)) > 0) hash.AppendData(buffer, 0, read);
    }

    private static string Reason(Exception e)
    {
        if (e is OperationCanceledException) return "no data for too long";
        while (e.InnerException is not null) e = e.InnerException;
        return e.Message.TrimEnd('.');
    }
}
