// Everything a DreamBooth run carries from one optimizer step to the next, the seed rules, and its checkpoint form.
namespace DreamBooth.Training;

using System.Text.Json;
using DreamBooth.IO;
using DreamBooth.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>Where the loop stands, as written to trainer_state.json: with the weight, optimizer and RNG files, enough to continue bit for bit.</summary>
public sealed record TrainerState(int GlobalStep, ulong Seed, string Method, LoaderState Loader);

/// <summary>
/// The trainable parameters, optimizer, loss scaler, data loader position, step, seed and (with --use-ema) the UNet's
/// moving average of one run, saved to and restored from a checkpoint folder so a resumed run continues bit for bit.
/// </summary>
/// <remarks>
/// The seed rules, all here: like diffusers' scripts, torch's global generator is seeded once with the run's seed —
/// after the models are loaded (building a model draws for default initialisation; diffusers' loading does not) —
/// and then draws everything: LoRA initialisation, dropout, the data order and crops, the VAE posterior sample, the
/// noise and the timesteps. Class images use <see cref="ClassImageSeed"/> per image so a rerun redraws the same ones;
/// validation images use the run's seed.
/// </remarks>
public sealed class TrainingState(ulong seed, string method, IReadOnlyList<(string Name, TorchSharp.Modules.Parameter Parameter)> trainable,
                                  IOptimizer optimizer, GradScaler scaler, ShuffledBatches loader, EmaModel? ema = null)
{
    /// <summary>The trainable weights in a checkpoint, named as <see cref="Components"/> prefixes them.</summary>
    public const string WeightsFile = "trainable.safetensors";

    private const string OptimizerFile = "optimizer.safetensors",
                         ScalerFile = "scaler.json", RngFile = "rng.json";

    public ulong Seed { get; private set; } = seed;

    public int GlobalStep { get; set; }

    public IReadOnlyList<(string Name, TorchSharp.Modules.Parameter Parameter)> Trainable => trainable;

    public IOptimizer Optimizer => optimizer;

    public GradScaler Scaler => scaler;

    public ShuffledBatches Loader => loader;

    public EmaModel? Ema => ema;

    /// <summary>Seeds torch's global generator as <c>accelerate.utils.set_seed</c> does.</summary>
    public static void SeedGlobalGenerator(ulong seed) => manual_seed(unchecked((long)seed));

    /// <summary>Seed of the class-image batch whose first image is number n (1-based): a rerun draws the same images.</summary>
    public static ulong ClassImageSeed(ulong seed, int n) => unchecked(seed + 1000003UL * (ulong)n);

    /// <summary>The seed concept <paramref name="k"/> (0-based) of a concepts list draws its class images from: the run's
    /// for the first, so that one concept draws as a plain run; apart for the others, so equal class prompts in two
    /// folders do not give equal images.</summary>
    public static ulong ConceptSeed(ulong seed, int k) => unchecked(seed + 0x9E3779B97F4A7C15UL * (ulong)k);

    public TrainerState Position => new(GlobalStep, Seed, method, loader.State);

    /// <summary>Writes weights, optimizer, scaler, generator state and the EMA (as diffusers, in unet_ema/) into <paramref name="dir"/>
    /// (trainer_state.json is the store's).</summary>
    public void Save(string dir)
    {
        SafeTensorsWriter.Write(Path.Combine(dir, WeightsFile), trainable.ToDictionary(p => p.Name, p => (Tensor)p.Parameter));
        optimizer.Save(Path.Combine(dir, OptimizerFile));
        AtomicFile.WriteAllText(Path.Combine(dir, ScalerFile), JsonSerializer.Serialize(scaler.State));
        RngState.Capture().Save(Path.Combine(dir, RngFile));
        ema?.SavePretrained(Path.Combine(dir, EmaModel.UnetFolder));
    }

    /// <summary>The pipeline's trainable models with the prefix of their parameters' names in a checkpoint.</summary>
    public static IEnumerable<(string Prefix, nn.Module Module)> Components(StableDiffusionPipeline pipe) =>
        new (string, nn.Module?)[] { ("unet.", pipe.Unet), ("text_encoder.", pipe.TextEncoder), ("text_encoder_2.", pipe.TextEncoder2) }
            .Where(c => c.Item2 is not null).Select(c => (c.Item1, c.Item2!));

    /// <summary>Loads a checkpoint's trainable weights into <paramref name="pipe"/> (a full fine-tune's, to evaluate them).</summary>
    public static void LoadWeights(string checkpoint, StableDiffusionPipeline pipe)
    {
        var parameters = Components(pipe)
            .SelectMany(c => c.Module.named_parameters().Select(p => (Name: c.Prefix + p.name, Tensor: (Tensor)p.parameter)))
            .ToDictionary(p => p.Name, p => p.Tensor, StringComparer.Ordinal);
        var file = Path.Combine(checkpoint, WeightsFile);
        using var weights = SafeTensorsFile.Open(file);
        foreach (var t in weights.Tensors)
            weights.ReadInto(t.Name, parameters.GetValueOrDefault(t.Name)
                ?? throw new DreamBoothException($"{file}: '{t.Name}' is not a weight of {pipe.Name}; was the run trained on another base model?"));
    }

    /// <summary>Puts a checkpoint back: the same trainable names are required (same method, rank, targets).</summary>
    public void Restore(string checkpoint)
    {
        var position = CheckpointStore.LoadState(checkpoint);
        // A damaged state used to fail deep in the loop (negative step, example indices out of range): check it first.
        if (position.GlobalStep < 0)
            throw new DreamBoothException($"{checkpoint}: step {position.GlobalStep} in {CheckpointStore.StateFile} is negative; the checkpoint is damaged.");
        if (loader.Problem(position.Loader) is { } problem)
            throw new DreamBoothException($"{checkpoint}: {problem} in {CheckpointStore.StateFile}; the checkpoint is damaged or was made with another image folder.");
        using (var weights = SafeTensorsFile.Open(Path.Combine(checkpoint, WeightsFile)))
        {
            var names = trainable.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
            if (!names.SetEquals(weights.Tensors.Select(t => t.Name)))
                throw new DreamBoothException($"{checkpoint}: its trainable weights do not match this run's (different --method, --rank, targets or --train-text-encoder?).");
            foreach (var (name, p) in trainable) weights.ReadInto(name, p);
        }
        optimizer.Load(Path.Combine(checkpoint, OptimizerFile));
        ema?.LoadPretrained(Path.Combine(checkpoint, EmaModel.UnetFolder));
        var scalerState = JsonSerializer.Deserialize<GradScalerState>(File.ReadAllText(Path.Combine(checkpoint, ScalerFile)));
        if (scalerState is not null) scaler.Load(scalerState);
        RngState.Load(Path.Combine(checkpoint, RngFile)).Restore();
        GlobalStep = position.GlobalStep;
        Seed = position.Seed;                                                        // validation keeps its seed
        loader.State = position.Loader;
    }
}
