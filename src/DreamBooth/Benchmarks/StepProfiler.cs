namespace DreamBooth.Benchmarks;

using System.Diagnostics;
using System.Text.Json.Serialization;
using DreamBooth.Torch;
using DreamBooth.Training;
using TorchSharp;
using static TorchSharp.torch;
using Modules = TorchSharp.Modules;

/// <summary>Where one module type's time goes in a training step.</summary>
/// <param name="Kind">The module's class ("Conv2d", "Attention", …).</param>
/// <param name="ForwardMs">Forward time of its own ops: the module's time minus its child modules' time.</param>
/// <param name="BackwardMs">Backward time of its calls replayed one by one (leaf layers only; null for the others).</param>
/// <param name="Calls">Forward calls in one step.</param>
public sealed record ProfileRow(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("forward_ms")] double ForwardMs,
    [property: JsonPropertyName("backward_ms")] double? BackwardMs,
    [property: JsonPropertyName("calls")] int Calls);

/// <summary>One training step by phase, and the forward (and leaf backward) time by module type.</summary>
public sealed record StepProfileReport(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("forward_ms")] double ForwardMs,
    [property: JsonPropertyName("backward_ms")] double BackwardMs,
    [property: JsonPropertyName("optimizer_ms")] double OptimizerMs,
    [property: JsonPropertyName("zero_grad_ms")] double ZeroGradMs,
    [property: JsonPropertyName("modules")] IReadOnlyList<ProfileRow> Modules)
{
    /// <summary>Forward time outside every hooked module: the model's own top-level ops when it is called directly.</summary>
    [JsonPropertyName("forward_rest_ms")]
    public double ForwardRestMs => ForwardMs - Modules.Sum(m => m.ForwardMs);

    /// <summary>Backward time the replayed leaf layers do not account for: attention products, activations,
    /// element-wise ops, and autograd's own bookkeeping between kernels.</summary>
    [JsonPropertyName("backward_rest_ms")]
    public double BackwardRestMs => BackwardMs - Modules.Sum(m => m.BackwardMs ?? 0);
}

/// <summary>
/// Profiles one training step of a model: wall time of forward, backward, optimizer step and gradient reset; forward
/// time per module type from hooks on every module (exclusive: a block's time without its children's, so the rows add
/// up to the forward); backward time of the leaf layers (conv, linear, norms) by replaying each recorded call alone
/// with the same shapes. CPU kernels are synchronous, so wall-clock stamps around calls measure them.
/// </summary>
public static class StepProfiler
{
    private static readonly Type[] Leaves = [typeof(Modules.Conv2d), typeof(Modules.Linear), typeof(Modules.GroupNorm), typeof(Modules.LayerNorm)];

    /// <summary>
    /// Profiles one training step of <paramref name="model"/> after a warm-up step: <paramref name="forwardLoss"/> runs
    /// the forward and returns the loss; backward, the <paramref name="optimizer"/> step and the gradient reset follow.
    /// </summary>
    public static StepProfileReport Profile(string name, nn.Module model, Func<Tensor> forwardLoss, IOptimizer optimizer)
    {
        void Step()
        {
            using (var s = NewDisposeScope())
            {
                using var grad = enable_grad();
                Checkpoint.Backward(forwardLoss());
            }
            optimizer.Step();
            optimizer.ZeroGrad();
        }
        Step();                                                                            // warm-up: allocator, optimizer state

        var clock = Stopwatch.StartNew();
        double forwardMs, backwardMs;
        var modules = new Dictionary<string, (double Ms, int Calls)>();
        var leafCalls = new List<(nn.Module Module, long[] Shape)>();
        using (var s = NewDisposeScope())
        {
            using var grad = enable_grad();
            Tensor loss;
            using (new ForwardTimer(model, modules, leafCalls)) loss = forwardLoss();
            forwardMs = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            Checkpoint.Backward(loss);
            backwardMs = clock.Elapsed.TotalMilliseconds;
        }
        clock.Restart();
        optimizer.Step();
        double optimizerMs = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        optimizer.ZeroGrad();
        double zeroGradMs = clock.Elapsed.TotalMilliseconds;

        var backward = ReplayBackward(leafCalls);
        optimizer.ZeroGrad();                                                             // the replays' weight gradients
        var rows = modules.Select(m => new ProfileRow(m.Key, Math.Round(m.Value.Ms, 2), backward.TryGetValue(m.Key, out var b) ? Math.Round(b, 2) : null, m.Value.Calls))
                          .OrderByDescending(r => r.ForwardMs + (r.BackwardMs ?? 0)).ToList();
        return new StepProfileReport(name, Math.Round(forwardMs, 2), Math.Round(backwardMs, 2), Math.Round(optimizerMs, 2), Math.Round(zeroGradMs, 2), rows);
    }

    // Each leaf call again, alone: forward with a fresh input of the recorded shape, then only the backward is timed.
    private static Dictionary<string, double> ReplayBackward(List<(nn.Module Module, long[] Shape)> calls)
    {
        var times = new Dictionary<string, double>();
        using var generator = new Generator(0);
        foreach (var (module, shape) in calls)
        {
            using var s = NewDisposeScope();
            using var grad = enable_grad();
            var x = randn(shape, generator: generator).requires_grad_(true);
            var y = ((nn.Module<Tensor, Tensor>)module).call(x);
            var upstream = randn(y.shape, generator: generator);
            var clock = Stopwatch.StartNew();
            y.backward([upstream]);
            var kind = module.GetType().Name;
            times[kind] = times.GetValueOrDefault(kind) + clock.Elapsed.TotalMilliseconds;
        }
        return times;
    }

    // Pre/post hooks on every module: a stack of open calls, each charging its time to its type minus its children's.
    private sealed class ForwardTimer : IDisposable
    {
        private readonly List<Action> removers = [];
        private readonly Stack<(long Start, double Children)> open = new();
        private readonly Stopwatch clock = Stopwatch.StartNew();

        public ForwardTimer(nn.Module model, Dictionary<string, (double Ms, int Calls)> totals, List<(nn.Module, long[])> leafCalls)
        {
            foreach (var module in model.named_modules().Select(m => m.module).Prepend(model).Distinct())
            {
                var kind = module.GetType().Name;
                bool leaf = Leaves.Contains(module.GetType());
                Register(module, "register_forward_pre_hook", _ => open.Push((clock.ElapsedTicks, 0)));
                Register(module, "register_forward_hook", _ =>
                {
                    var (start, children) = open.Pop();
                    double ms = (clock.ElapsedTicks - start) * 1000.0 / Stopwatch.Frequency;
                    var (sum, calls) = totals.GetValueOrDefault(kind);
                    totals[kind] = (sum + ms - children, calls + 1);
                    if (open.Count > 0)
                    {
                        var parent = open.Pop();
                        open.Push((parent.Start, parent.Children + ms));
                    }
                });
                if (leaf)
                    removers.Add(((nn.Module<Tensor, Tensor>)module).register_forward_hook((m, input, output) =>
                    {
                        leafCalls.Add((m, input.shape));
                        return output;
                    }).remove);
            }
        }

        // TorchSharp's type-agnostic hooks (Action<Module>) live on each module's generic HookableModule base.
        private void Register(nn.Module module, string method, Action<nn.Module> hook)
        {
            var register = module.GetType().GetMethods().FirstOrDefault(m => m.Name == method && m.GetParameters() is [var p] && p.ParameterType == typeof(Action<nn.Module>));
            if (register?.Invoke(module, [hook]) is { } remover)
                removers.Add(() => remover.GetType().GetMethod("remove")!.Invoke(remover, null));
        }

        public void Dispose()
        {
            foreach (var remove in removers) remove();
        }
    }
}
