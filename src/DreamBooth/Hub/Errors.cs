// Mirrors huggingface_hub v0.22.2 utils/_errors.py::hf_raise_for_status (which X-Error-Code means what), with
// messages that say what to do.
namespace DreamBooth.Hub;

/// <summary>Turns a failed Hub response into a one-line <see cref="HubException"/>.</summary>
internal static class Errors
{
    /// <param name="path">The repo file, or null for the repo listing.</param>
    public static HubException For(HubOptions options, HttpResponseMessage response, string repoId, string revision, string? path)
    {
        var status = (int)response.StatusCode;
        var code = HubHttp.Header(response, "X-Error-Code");
        var serverMessage = HubHttp.Header(response, "X-Error-Message");
        var label = HubClient.Label(repoId, revision);
        var page = $"{options.Endpoint}/{repoId}";
        var tokenHint = options.Token is null
            ? "set HF_TOKEN (or log in with `huggingface-cli login`) to a token with access"
            : $"the token from {options.TokenSource ?? "the options"} was sent but does not grant access";

        if (code == "RevisionNotFound")
            return new(HubErrorKind.RevisionNotFound, $"{repoId}: revision '{revision}' not found on {options.Endpoint} (use a branch, a tag or a full commit sha).", status);
        if (code == "EntryNotFound" || (status == 404 && path is not null && code is null))
            return new(HubErrorKind.EntryNotFound, $"{label}: file '{path}' not found in the repository.", status);
        if (code == "GatedRepo")
            return new(HubErrorKind.Forbidden, $"{repoId} is a gated model (HTTP {status}): accept its conditions at {page}, then {tokenHint}.", status);
        if (serverMessage == "Access to this resource is disabled.")
            return new(HubErrorKind.Forbidden, $"{repoId}: access to this repository has been disabled on the Hub (HTTP {status}).", status);
        if (status == 401)
            // The Hub answers 401 alike for private, gated and nonexistent repos when the request has no valid token.
            return new(HubErrorKind.Unauthorized, $"{repoId}: repository not found, or private or gated (HTTP 401). Check the id; if it is private or gated, {tokenHint}.", status);
        if (code == "RepoNotFound" || (status == 404 && path is null))
            return new(HubErrorKind.RepoNotFound, $"{repoId}: repository not found on {options.Endpoint} (HTTP {status}). Check the id; private repos need HF_TOKEN.", status);
        if (status == 403)
            return new(HubErrorKind.Forbidden, $"{repoId}: access denied (HTTP 403{Suffix(serverMessage)}). For a gated model accept its conditions at {page}; then {tokenHint}.", status);
        var what = path is null ? $"the file list of {label}" : $"{path} of {label}";
        return new(HubErrorKind.Http, $"{options.Endpoint} answered HTTP {status} {response.ReasonPhrase}{Suffix(serverMessage)} for {what}; try again later (cached models also load with HF_HUB_OFFLINE=1).", status);
    }

    private static string Suffix(string? serverMessage) => string.IsNullOrWhiteSpace(serverMessage) ? "" : $": {serverMessage.ReplaceLineEndings(" ").TrimEnd('.')}";
}
