// Mirrors torch.utils.checkpoint.checkpoint (use_reentrant=True flavour, preserve_rng_state=True)
namespace DreamBooth.Torch;

using TorchSharp;
using static TorchSharp.torch;

/// <summary>Gradient checkpointing: the block runs without recording its activations; in backward it is run again
/// under enable_grad from the saved inputs (with the CPU generator reset to its forward-time state, so dropout draws
/// the same masks) and back-propagated through, which accumulates the block's parameter gradients and yields the
/// input gradients. Memory: between forward and backward a block keeps its inputs, its outputs and one
/// uninitialised output-sized buffer per output (TorchSharp 0.107's custom Function allocates it to zero-fill
/// missing output gradients). Call <see cref="Backward"/> instead of loss.backward() to see recomputation errors.
/// Built on TorchSharp's custom autograd functions (torch.autograd.MultiTensorFunction) with a reentrant
/// torch.autograd.backward inside the node's backward, as torch's reentrant checkpoint does.
/// Unlike torch's reentrant flavour, parameters inside the block get gradients even when no input requires grad
/// (a zero-size dummy input that requires grad keeps the node in the graph).
/// The CUDA generators are not preserved (TorchSharp 0.107 exposes only the default CPU generator's state), so
/// blocks with dropout on CUDA recompute different masks; diffusers' UNet blocks use dropout 0.</summary>
public static class Checkpoint
{
    private static readonly Lock FailureGate = new();
    private static Exception? pendingFailure;

    /// <summary>loss.backward(), then rethrows an exception raised while recomputing a checkpointed block.
    /// Use it (or <see cref="ThrowIfBackwardFailed"/> after backward) whenever the graph holds checkpoints: an
    /// exception cannot cross libtorch's autograd engine, so a failing recomputation is recorded, its gradients
    /// are left out, and the failure surfaces here instead of tearing the process down.</summary>
    public static void Backward(Tensor loss)
    {
        ThrowIfBackwardFailed();
        loss.backward();
        ThrowIfBackwardFailed();
    }

    /// <summary>Throws (once) the first exception recorded by a checkpointed block's backward, if any.</summary>
    public static void ThrowIfBackwardFailed()
    {
        Exception? failure;
        lock (FailureGate)
        {
            failure = pendingFailure;
            pendingFailure = null;
        }
        if (failure is not null)
            throw new DreamBoothException($"Recomputing a checkpointed block during backward failed: {failure.Message}", failure);
    }

    /// <summary>Checkpoints a block with one tensor input and one tensor output.</summary>
    public static Tensor Run(Func<Tensor, Tensor> block, Tensor input, bool preserveRngState = true) =>
        RunMany(inputs => [block(inputs[0]!)], [input], preserveRngState)[0];

    /// <summary>Checkpoints a block with several inputs (e.g. hidden states, time embedding, encoder states; null
    /// entries are passed through as null) and one output.</summary>
    public static Tensor Run(Func<IReadOnlyList<Tensor?>, Tensor> block, IReadOnlyList<Tensor?> inputs, bool preserveRngState = true) =>
        RunMany(xs => [block(xs)], inputs, preserveRngState)[0];

    /// <summary>Checkpoints a block with several inputs and several outputs. The block must not modify its inputs
    /// in place and must be deterministic given the inputs and the generator state (it runs twice).</summary>
    public static IReadOnlyList<Tensor> RunMany(Func<IReadOnlyList<Tensor?>, IReadOnlyList<Tensor>> block,
        IReadOnlyList<Tensor?> inputs, bool preserveRngState = true)
    {
        // No graph is being recorded: nothing to save memory on, run the block as is.
        if (!is_grad_enabled()) return block(inputs);
        // The generator snapshot must outlive the caller's dispose scope: backward may run after it closed.
        var call = new Call(block, inputs.Count, preserveRngState ? get_rng_state().DetachFromDisposeScope() : null);
        using var dummy = empty(0).requires_grad_(true);
        var vars = new object?[inputs.Count + 2];
        vars[0] = call;
        vars[1] = dummy;
        for (int i = 0; i < inputs.Count; i++) vars[i + 2] = inputs[i];
        return CheckpointFunction.apply(vars!);
    }

    /// <summary>What the backward pass needs besides the saved inputs.</summary>
    private sealed class Call(Func<IReadOnlyList<Tensor?>, IReadOnlyList<Tensor>> block, int inputCount, Tensor? rngState)
    {
        public Func<IReadOnlyList<Tensor?>, IReadOnlyList<Tensor>> Block { get; } = block;
        public int InputCount { get; } = inputCount;
        public Tensor? RngState { get; } = rngState;
    }

    private sealed class CheckpointFunction : autograd.MultiTensorFunction<CheckpointFunction>
    {
        public override string Name => "CheckpointFunction";

        public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var call = (Call)vars[0];
            var inputs = vars.Skip(2).Select(v => v as Tensor).ToList();
            ctx.save_data("call", call);
            ctx.save_for_backward(inputs!);
            // Runs under no_grad (TorchSharp's apply); the scope frees the block's temporaries right away.
            using var scope = NewDisposeScope();
            var outputs = call.Block(inputs);
            if (outputs.Count == 0) throw new ArgumentException("A checkpointed block must return at least one tensor.");
            var result = new List<Tensor>(outputs.Count);
            foreach (var o in outputs)
                result.Add(inputs.Any(x => ReferenceEquals(x, o)) ? o.alias().MoveToOuterDisposeScope() : o.MoveToOuterDisposeScope());
            return result;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> grad_outputs)
        {
            try
            {
                return Recompute(ctx, grad_outputs);
            }
            catch (Exception e)
            {
                lock (FailureGate) pendingFailure ??= e;
                return [.. Enumerable.Repeat<Tensor>(null!, ((Call)ctx.get_data("call")).InputCount + 2)];
            }
        }

        private static List<Tensor> Recompute(autograd.AutogradContext ctx, List<Tensor> grad_outputs)
        {
            var call = (Call)ctx.get_data("call");
            using var scope = NewDisposeScope();
            var saved = ctx.get_saved_variables();
            // Fresh leaves for the recomputation, so their .grad collects exactly the input gradients.
            var detached = saved.Select(t => t is null ? null : t.detach().requires_grad_(t.requires_grad && t.is_floating_point())).ToList();

            IReadOnlyList<Tensor> outputs;
            Tensor? callerRng = null;
            if (call.RngState is not null)
            {
                callerRng = get_rng_state();
                set_rng_state(call.RngState);
            }
            try
            {
                using (enable_grad()) outputs = call.Block(detached);
            }
            finally
            {
                if (callerRng is not null) set_rng_state(callerRng);
            }

            var roots = new List<Tensor>();
            var grads = new List<Tensor>();
            for (int i = 0; i < outputs.Count && i < grad_outputs.Count; i++)
            {
                if (!outputs[i].requires_grad || grad_outputs[i] is null || grad_outputs[i].IsInvalid) continue;
                roots.Add(outputs[i]);
                grads.Add(grad_outputs[i]);
            }
            if (roots.Count > 0) autograd.backward(roots, grads);

            // One gradient per forward argument: none for the call object and the dummy.
            var result = new List<Tensor> { null!, null! };
            foreach (var d in detached)
                result.Add(d is not null && d.requires_grad ? d.grad?.MoveToOuterDisposeScope()! : null!);
            return result;
        }
    }
}
