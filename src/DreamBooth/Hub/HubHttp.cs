// Mirrors huggingface_hub v0.22.2 file_download.py::_request_wrapper / get_hf_file_metadata and
// utils/_errors.py::hf_raise_for_status (X-Error-Code handling), with one-line messages.
namespace DreamBooth.Hub;

using System.Net;
using System.Net.Http.Headers;

/// <summary>Metadata of a repo file from a HEAD on its resolve URL.</summary>
/// <param name="Commit">X-Repo-Commit: the commit the revision resolved to.</param>
/// <param name="Etag">Normalised X-Linked-Etag (LFS: sha256) or ETag (git blob sha1).</param>
/// <param name="Location">Where to GET it: the CDN URL of a redirect, else the resolve URL.</param>
/// <param name="Size">X-Linked-Size or Content-Length.</param>
public sealed record HubFileMetadata(string? Commit, string? Etag, Uri Location, long? Size);

/// <summary>HTTP plumbing: manual redirects (so a token never follows a redirect to another host) and error mapping.</summary>
internal sealed class HubHttp : IDisposable
{
    private const int MaxRedirects = 10;
    private readonly HttpClient _client;
    private readonly HubOptions _options;
    private readonly Uri _endpoint;

    public HubHttp(HubOptions options, HttpMessageHandler? handler)
    {
        _options = options;
        _endpoint = new Uri(options.Endpoint);
        handler ??= new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = options.RequestTimeout,
        };
        _client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _client.DefaultRequestHeaders.UserAgent.ParseAdd($"DreamBooth.NET/{typeof(HubHttp).Assembly.GetName().Version?.ToString(3) ?? "0"}");
    }

    public void Dispose() => _client.Dispose();

    /// <summary>HEAD like get_hf_file_metadata: follows only relative redirects (renamed repos); a redirect to another
    /// host (the LFS CDN) is not followed but becomes <see cref="HubFileMetadata.Location"/>.</summary>
    public async Task<HubFileMetadata> HeadAsync(Uri url, Func<HttpResponseMessage, HubException> onError, CancellationToken ct)
    {
        using var timeout = Linked(ct, _options.RequestTimeout);
        for (var hop = 0; ; hop++)
        {
            using var request = NewRequest(HttpMethod.Head, url, sendToken: SameAuthority(_endpoint, url));
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity")); // the real size, not a compressed one
            using var response = await Send(request, HttpCompletionOption.ResponseHeadersRead, url, ct, timeout.Token);
            var status = (int)response.StatusCode;
            var location = Header(response, "Location");
            if (status is >= 300 and < 400 && location is not null && !IsAbsoluteHttp(location) && hop < MaxRedirects)
            {
                url = Combine(url, location);
                continue;
            }
            if (status >= 400) throw onError(response);
            return new HubFileMetadata(
                Header(response, "X-Repo-Commit"),
                HubCache.NormalizeEtag(Header(response, "X-Linked-Etag") ?? Header(response, "ETag")),
                location is null ? url : Combine(url, location),
                ParseLong(Header(response, "X-Linked-Size") ?? ContentHeader(response, "Content-Length")));
        }
    }

    /// <summary>GET with body streaming (the caller disposes the response); follows up to 10 redirects. The token is
    /// sent only to the endpoint's host and port, as huggingface_hub drops it for the CDN. <paramref name="rangeFrom"/> &gt; 0 asks for the tail.</summary>
    public async Task<HttpResponseMessage> GetAsync(Uri url, long rangeFrom, Func<HttpResponseMessage, HubException> onError, CancellationToken ct, TimeSpan? headerTimeout = null)
    {
        using var timeout = Linked(ct, headerTimeout ?? _options.RequestTimeout);
        for (var hop = 0; ; hop++)
        {
            // The token goes to the Hub only: CDN URLs are pre-signed, and a token must never leak to another host.
            using var request = NewRequest(HttpMethod.Get, url, sendToken: SameAuthority(_endpoint, url));
            if (rangeFrom > 0) request.Headers.Range = new RangeHeaderValue(rangeFrom, null);
            var response = await Send(request, HttpCompletionOption.ResponseHeadersRead, url, ct, timeout.Token);
            var status = (int)response.StatusCode;
            var location = Header(response, "Location");
            if (status is >= 300 and < 400 && location is not null && hop < MaxRedirects)
            {
                response.Dispose();
                url = Combine(url, location);
                continue;
            }
            if (status >= 400 && !(status == 416 && rangeFrom > 0))
            {
                using (response) throw onError(response);
            }
            return response;
        }
    }

    public static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.NonValidated.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    public static string? ContentHeader(HttpResponseMessage response, string name) =>
        response.Content.Headers.NonValidated.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;

    public static long? ParseLong(string? value) => long.TryParse(value, out var n) && n >= 0 ? n : null;

    /// <summary>Whether a failure means "no usable connection" (as opposed to an HTTP answer).</summary>
    public static bool IsNetworkFailure(Exception e, CancellationToken ct) =>
        e is HttpRequestException { StatusCode: null } or IOException ||
        (e is OperationCanceledException && !ct.IsCancellationRequested);

    private HttpRequestMessage NewRequest(HttpMethod method, Uri url, bool sendToken)
    {
        var request = new HttpRequestMessage(method, url);
        if (sendToken && _options.Token is { } token) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    private async Task<HttpResponseMessage> Send(HttpRequestMessage request, HttpCompletionOption completion, Uri url, CancellationToken user, CancellationToken withTimeout)
    {
        try
        {
            return await _client.SendAsync(request, completion, withTimeout).ConfigureAwait(false);
        }
        catch (Exception e) when (IsNetworkFailure(e, user))
        {
            throw NetworkError(url, e);
        }
    }

    public HubException NetworkError(Uri url, Exception e)
    {
        var reason = e is OperationCanceledException ? "timed out" : Innermost(e);
        return new HubException(HubErrorKind.Network,
            $"Cannot reach {url.Scheme}://{url.Authority} ({reason}). Check the network, proxy or HF_ENDPOINT; models already in the cache also load with HF_HUB_OFFLINE=1.", e);
    }

    private static string Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e.Message.TrimEnd('.');
    }

    private static CancellationTokenSource Linked(CancellationToken ct, TimeSpan timeout)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        return cts;
    }

    private static bool SameAuthority(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase) && string.Equals(a.Authority, b.Authority, StringComparison.OrdinalIgnoreCase);

    private static Uri Combine(Uri baseUrl, string location) =>
        IsAbsoluteHttp(location) ? new Uri(location) : new Uri(baseUrl, new Uri(location, UriKind.Relative));

    // "/x" is an absolute *file* URI to .NET on Unix, so test the scheme rather than UriKind.
    private static bool IsAbsoluteHttp(string location) =>
        Uri.TryCreate(location, UriKind.Absolute, out var u) && (u.Scheme == Uri.UriSchemeHttp || u.Scheme == Uri.UriSchemeHttps);
}
