namespace DreamBooth.Cli;

using DreamBooth.Hub;
using DreamBooth.Cli.Rendering;
using Spectre.Console;

/// <summary>Turns a model argument into a local path: a folder or .safetensors file as is, a hub repo id via the cache.</summary>
internal static class ModelLocator
{
    public static string Resolve(string model, IAnsiConsole console, bool quiet, CancellationToken cancellationToken, string? variant = null)
    {
        if (string.IsNullOrWhiteSpace(model)) throw new DreamBoothException("No model given.");
        var reference = ModelRef.Parse(model);
        if (reference.Kind != ModelRefKind.HubRepo) return reference.LocalPath!;
        using var hub = new HubClient(HubOptions.FromEnvironment());
        var options = new PipelineFileOptions { Variant = variant };
        if (quiet || !console.Profile.Capabilities.Interactive)
            return hub.ResolveAsync(reference, options, null, cancellationToken).GetAwaiter().GetResult();
        string path = "";
        console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                var progress = HubProgress.Callback(p =>
                {
                    if (!tasks.TryGetValue(p.File, out var task))
                        tasks[p.File] = task = ctx.AddTask(Format.Text(p.File), maxValue: Math.Max(1, p.Total ?? 1));
                    if (p.Total is long total) task.MaxValue = Math.Max(1, total);
                    task.Value = p.Cached ? task.MaxValue : p.Done;
                });
                path = hub.ResolveAsync(reference, options, progress, cancellationToken).GetAwaiter().GetResult();
            });
        return path;
    }
}
