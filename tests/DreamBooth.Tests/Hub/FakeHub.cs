namespace DreamBooth.Tests.Hub;

using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

/// <summary>A model repo served by <see cref="FakeHub"/>: files at one commit.</summary>
internal sealed class FakeRepo(string id, IReadOnlyDictionary<string, byte[]> files, string? sha = null)
{
    public string Id { get; } = id;
    public string Sha { get; } = sha ?? Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(id)));
    public IReadOnlyDictionary<string, byte[]> Files { get; } = files;
    public HashSet<string> Tags { get; } = [];

    /// <summary>sha256 of each file, as the CDN addresses them.</summary>
    public IReadOnlyDictionary<string, string> Sha256ByPath { get; } = files.ToDictionary(f => f.Key, f => Sha256(f.Value));

    /// <summary>Large binaries live in LFS on the real Hub: their HEAD redirects to the CDN with a sha256 etag.</summary>
    public static bool IsLfs(string path) =>
        path.EndsWith(".safetensors", StringComparison.Ordinal) || path.EndsWith(".bin", StringComparison.Ordinal) ||
        path.EndsWith(".msgpack", StringComparison.Ordinal) || path.EndsWith(".ckpt", StringComparison.Ordinal) || path.EndsWith(".onnx", StringComparison.Ordinal);

    public static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>The git blob id, which the Hub sends as ETag for regular files.</summary>
    public static string GitSha1(byte[] data) =>
        Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {data.Length}\0"), .. data]));

    public static string Etag(string path, byte[] data) => IsLfs(path) ? Sha256(data) : GitSha1(data);
}

/// <summary>One request the fake hub or its CDN received.</summary>
internal sealed record FakeRequest(string Server, string Method, string Target, IReadOnlyDictionary<string, string> Headers)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;
}

/// <summary>
/// A Hugging Face Hub look-alike on 127.0.0.1 (random ports), speaking just enough HTTP/1.1 (one request per
/// connection): the model_info API, HEAD/GET on resolve URLs with X-Repo-Commit/ETag, LFS files redirected (302) to a
/// "CDN" on a second port with X-Linked-Etag/X-Linked-Size, Range requests, X-Error-Code errors, a token check and
/// injectable connection drops.
/// </summary>
internal sealed class FakeHub : IDisposable
{
    private readonly Dictionary<string, FakeRepo> _repos;
    private readonly TcpListener _hub = new(IPAddress.Loopback, 0);
    private readonly TcpListener _cdn = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, (long Offset, int Times)> _cuts = new();
    private readonly ConcurrentDictionary<string, bool> _corrupt = new();
    private readonly ConcurrentDictionary<string, bool> _endless = new();
    private long _endlessSent;

    public FakeHub(params FakeRepo[] repos)
    {
        _repos = repos.ToDictionary(r => r.Id);
        _hub.Start();
        _cdn.Start();
        _ = Serve(_hub, "hub");
        _ = Serve(_cdn, "cdn");
    }

    public string Endpoint => $"http://127.0.0.1:{((IPEndPoint)_hub.LocalEndpoint).Port}";

    public string CdnEndpoint => $"http://127.0.0.1:{((IPEndPoint)_cdn.LocalEndpoint).Port}";

    /// <summary>When set, hub (not CDN) requests without "Authorization: Bearer {token}" are refused.</summary>
    public string? RequiredToken { get; set; }

    /// <summary>How a refused request is answered: false → 401 (private repo), true → 403 GatedRepo.</summary>
    public bool Gated { get; set; }

    public ConcurrentQueue<FakeRequest> Requests { get; } = new();

    /// <summary>Old repo id → new one: requests for the old id get a relative 307 to the new one, as after a rename.</summary>
    public Dictionary<string, string> Renamed { get; } = [];

    /// <summary>The CDN closes the connection once it has sent the file up to <paramref name="offset"/>, <paramref name="times"/> times.</summary>
    public void CutAt(string repoPath, long offset, int times = int.MaxValue) => _cuts[repoPath] = (offset, times);

    public void ClearCuts() => _cuts.Clear();

    /// <summary>The CDN serves this file with its first byte flipped.</summary>
    public void Corrupt(string repoPath) => _corrupt[repoPath] = true;

    /// <summary>The CDN answers this file with a body without Content-Length that goes on (up to 256 MiB) until the client hangs up.</summary>
    public void Endless(string repoPath) => _endless[repoPath] = true;

    /// <summary>Bytes of endless bodies the CDN got onto the socket.</summary>
    public long EndlessBytesSent => Interlocked.Read(ref _endlessSent);

    /// <summary>Requests for a repo file (resolve and CDN), by path.</summary>
    public IEnumerable<FakeRequest> RequestsFor(string repoPath) => Requests.Where(r => r.Target.EndsWith("/" + repoPath, StringComparison.Ordinal) ||
        _repos.Values.Any(repo => repo.Sha256ByPath.TryGetValue(repoPath, out var sha) && r.Target == "/cdn/" + sha));

    public void Dispose()
    {
        _stop.Cancel();
        _hub.Stop();
        _cdn.Stop();
    }

    private async Task Serve(TcpListener listener, string server)
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; } // stopped
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    try { await Handle(client.GetStream(), server); }
                    catch (IOException) { } // the client went away
                    catch (SocketException) { }
                }
            });
        }
    }

    private async Task Handle(NetworkStream net, string server)
    {
        var (method, target, headers) = await ReadRequest(net);
        var request = new FakeRequest(server, method, target, headers);
        Requests.Enqueue(request);
        if (server == "cdn") await ServeCdn(net, request);
        else await ServeHub(net, request);
    }

    private async Task ServeHub(NetworkStream net, FakeRequest request)
    {
        foreach (var (from, to) in Renamed)
            foreach (var prefix in new[] { "/api/models/", "/" })
                if (request.Target.StartsWith(prefix + from + "/", StringComparison.Ordinal))
                {
                    await Write(net, request, 307, [("Location", prefix + to + request.Target[(prefix + from).Length..])]);
                    return;
                }
        var path = Uri.UnescapeDataString(request.Target.Split('?')[0]);
        const string api = "/api/models/";
        if (path.StartsWith(api, StringComparison.Ordinal))
        {
            // /api/models/{org}/{name}/revision/{revision}
            var parts = path[api.Length..].Split('/', 4);
            if (parts.Length != 4 || parts[2] != "revision") { await Write(net, request, 400, []); return; }
            if (!Authorize(parts[0] + "/" + parts[1], request, out var repo, out var refusal)) { await Write(net, request, refusal.Status, refusal.Headers); return; }
            if (!KnownRevision(repo, parts[3])) { await Write(net, request, 404, [("X-Error-Code", "RevisionNotFound")]); return; }
            var json = JsonSerializer.Serialize(new
            {
                id = repo.Id, modelId = repo.Id, sha = repo.Sha, @private = false, disabled = false, gated = false, downloads = 0, likes = 0,
                library_name = "diffusers", tags = new[] { "diffusers" }, siblings = repo.Files.Keys.Order().Select(f => new { rfilename = f }),
            });
            await Write(net, request, 200, [("Content-Type", "application/json")], Encoding.UTF8.GetBytes(json));
            return;
        }

        // /{org}/{name}/resolve/{revision}/{path...}
        var segments = path.TrimStart('/').Split('/', 5);
        if (segments.Length != 5 || segments[2] != "resolve") { await Write(net, request, 404, []); return; }
        if (!Authorize(segments[0] + "/" + segments[1], request, out var r, out var refused)) { await Write(net, request, refused.Status, refused.Headers); return; }
        if (!KnownRevision(r, segments[3])) { await Write(net, request, 404, [("X-Error-Code", "RevisionNotFound")]); return; }
        var file = segments[4];
        if (!r.Files.TryGetValue(file, out var data))
        {
            await Write(net, request, 404, [("X-Error-Code", "EntryNotFound"), ("X-Repo-Commit", r.Sha)]);
            return;
        }
        if (FakeRepo.IsLfs(file))
        {
            var sha = r.Sha256ByPath[file];
            await Write(net, request, 302, [
                ("Location", $"{CdnEndpoint}/cdn/{sha}"),
                ("X-Repo-Commit", r.Sha),
                ("X-Linked-Etag", $"\"{sha}\""),
                ("X-Linked-Size", data.Length.ToString()),
                ("ETag", $"W/\"{FakeRepo.GitSha1(Encoding.UTF8.GetBytes("pointer " + sha))}\""), // the LFS pointer's own etag, to be ignored
            ]);
            return;
        }
        await Write(net, request, 200, [("X-Repo-Commit", r.Sha), ("ETag", $"\"{FakeRepo.GitSha1(data)}\"")], data);
    }

    private async Task ServeCdn(NetworkStream net, FakeRequest request)
    {
        var sha = request.Target.StartsWith("/cdn/", StringComparison.Ordinal) ? request.Target[5..] : "";
        var repo = _repos.Values.FirstOrDefault(r => r.Sha256ByPath.Values.Contains(sha));
        if (repo is null) { await Write(net, request, 404, []); return; }
        var entry = repo.Files.First(f => repo.Sha256ByPath[f.Key] == sha);
        var data = entry.Value;
        if (_corrupt.ContainsKey(entry.Key)) { data = (byte[])data.Clone(); data[0] ^= 0xFF; }
        if (_endless.ContainsKey(entry.Key))
        {
            await net.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"));
            var chunk = new byte[64 << 10];
            for (int i = 0; i < 4096; i++)
            {
                await net.WriteAsync(chunk); // throws once the client has gone
                Interlocked.Add(ref _endlessSent, chunk.Length);
            }
            return;
        }

        long start = 0;
        if (request.Header("Range") is { } range && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
            start = long.Parse(range[6..^1]);
        if (start >= data.Length && start > 0) { await Write(net, request, 416, [("Content-Range", $"bytes */{data.Length}")]); return; }
        var status = start > 0 ? 206 : 200;
        (string, string)[] headers = start > 0 ? [("Content-Range", $"bytes {start}-{data.Length - 1}/{data.Length}")] : [];

        if (_cuts.TryGetValue(entry.Key, out var cut) && cut.Times > 0)
        {
            _cuts[entry.Key] = (cut.Offset, cut.Times - 1);
            // Announce the whole rest, send only up to the cut, then drop the connection.
            var partial = data.AsMemory((int)start, (int)Math.Max(0, cut.Offset - start));
            await Write(net, request, status, headers, data[(int)start..], sendOnly: partial);
            return;
        }
        await Write(net, request, status, headers, data[(int)start..]);
    }

    private bool Authorize(string repoId, FakeRequest request, out FakeRepo repo, out (int Status, (string, string)[] Headers) refusal)
    {
        refusal = default;
        var tokenOk = RequiredToken is null || request.Header("Authorization") == $"Bearer {RequiredToken}";
        if (!tokenOk)
        {
            refusal = Gated ? (403, [("X-Error-Code", "GatedRepo"), ("X-Error-Message", "Access to model is restricted")]) : (401, [("X-Error-Code", "RepoNotFound")]);
            repo = null!;
            return false;
        }
        if (!_repos.TryGetValue(repoId, out repo!))
        {
            refusal = (404, [("X-Error-Code", "RepoNotFound")]);
            return false;
        }
        return true;
    }

    private static bool KnownRevision(FakeRepo repo, string revision) => revision == "main" || revision == repo.Sha || repo.Tags.Contains(revision);

    private static async Task<(string Method, string Target, Dictionary<string, string> Headers)> ReadRequest(NetworkStream net)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (bytes.Count < 4 || !(bytes[^4] == '\r' && bytes[^3] == '\n' && bytes[^2] == '\r' && bytes[^1] == '\n'))
        {
            if (await net.ReadAsync(one) == 0) throw new IOException("client closed");
            bytes.Add(one[0]);
        }
        var lines = Encoding.ASCII.GetString(bytes.ToArray()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var first = lines[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        return (first[0], first[1], headers);
    }

    private static async Task Write(NetworkStream net, FakeRequest request, int status, (string Name, string Value)[] headers, byte[]? body = null, ReadOnlyMemory<byte>? sendOnly = null)
    {
        body ??= [];
        var head = new StringBuilder($"HTTP/1.1 {status} {Reason(status)}\r\nConnection: close\r\nContent-Length: {body.Length}\r\n");
        foreach (var (name, value) in headers) head.Append($"{name}: {value}\r\n");
        head.Append("\r\n");
        await net.WriteAsync(Encoding.ASCII.GetBytes(head.ToString()));
        if (request.Method != "HEAD") await net.WriteAsync(sendOnly ?? body);
        await net.FlushAsync();
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK", 206 => "Partial Content", 302 => "Found", 307 => "Temporary Redirect", 400 => "Bad Request", 401 => "Unauthorized",
        403 => "Forbidden", 404 => "Not Found", 416 => "Range Not Satisfiable", _ => "Status",
    };
}
