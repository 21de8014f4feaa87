namespace DreamBooth.Hub;

public enum HubErrorKind
{
    /// <summary>The endpoint could not be reached (DNS, refused connection, timeout).</summary>
    Network,
    /// <summary>401: private, gated or missing repo without a valid token.</summary>
    Unauthorized,
    /// <summary>403: gated repo whose conditions the token's account has not accepted, or access disabled.</summary>
    Forbidden,
    RepoNotFound,
    RevisionNotFound,
    EntryNotFound,
    /// <summary>Offline (or the Hub is unreachable) and the file is not in the cache.</summary>
    NotCached,
    /// <summary>A download finished with the wrong size or checksum, or the server sent unusable metadata.</summary>
    Integrity,
    /// <summary>The repo has no usable weights for a component (e.g. only pickles), or is not a diffusers pipeline.</summary>
    Unsupported,
    /// <summary>Any other HTTP failure (5xx, 400, ...).</summary>
    Http,
}

/// <summary>A Hub failure with a one-line message for the user and a machine-readable <see cref="Kind"/>.</summary>
public sealed class HubException : DreamBoothException
{
    public HubErrorKind Kind { get; }

    /// <summary>HTTP status when the failure came from a response.</summary>
    public int? StatusCode { get; }

    public HubException(HubErrorKind kind, string message, int? statusCode = null) : base(message)
    {
        Kind = kind;
        StatusCode = statusCode;
    }

    public HubException(HubErrorKind kind, string message, Exception inner, int? statusCode = null) : base(message, inner)
    {
        Kind = kind;
        StatusCode = statusCode;
    }
}
