// Mirrors diffusers src/diffusers/pipelines/stable_diffusion/pipeline_stable_diffusion.py::StableDiffusionPipeline and
// pipelines/stable_diffusion_xl/pipeline_stable_diffusion_xl.py::StableDiffusionXLPipeline (text-to-image __call__).
namespace DreamBooth.Pipelines;

using DreamBooth.Models.Autoencoders;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unets;
using DreamBooth.Schedulers;
using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>One text-to-image call, with diffusers' defaults.</summary>
public sealed record GenerationRequest
{
    public string Prompt { get; init; } = "";

    /// <summary>null ⇒ "" for SD, zeros for SDXL (force_zeros_for_empty_prompt), exactly as diffusers.</summary>
    public string? NegativePrompt { get; init; }

    public int Steps { get; init; } = 50;

    public double GuidanceScale { get; init; } = 7.5;

    /// <summary>null ⇒ the UNet's sample_size × the VAE factor (512 for SD 1.5).</summary>
    public int? Width { get; init; }

    public int? Height { get; init; }

    public int NumImages { get; init; } = 1;

    /// <summary>Seed of the CPU generator (torch.Generator("cpu").manual_seed(seed)); null draws one at random.</summary>
    public ulong? Seed { get; init; }

    /// <summary>Initial latents (before init_noise_sigma scaling) instead of drawing them from the seed.</summary>
    public Tensor? Latents { get; init; }

    /// <summary>diffusers' clip_skip: 1 uses the penultimate CLIP layer (A1111's "CLIP skip 2").</summary>
    public int? ClipSkip { get; init; }

    /// <summary>A scheduler class name or alias; null keeps the pipeline's own scheduler.</summary>
    public string? Scheduler { get; init; }
}

/// <summary>The tensors of one denoising step, for progress reporting and parity tests (valid only during the callback).</summary>
public sealed record PipelineStep(int Index, int Count, Tensor Timestep, Tensor UnetInput, Tensor UnetOutput, Tensor Latents);

/// <summary>Images as a float32 CPU tensor [B, 3, H, W] in [0, 1], plus what produced them.</summary>
public sealed record GenerationResult(Tensor Images, ulong Seed, string SchedulerClass, int Width, int Height) : IDisposable
{
    public void Dispose() => Images.Dispose();
}

public sealed class StableDiffusionPipeline : IDisposable
{
    private readonly PipelineParts parts;
    private readonly bool forceZerosForEmptyPrompt;

    internal StableDiffusionPipeline(PipelineParts parts, bool forceZerosForEmptyPrompt, string name, Device device, string configFolder)
    {
        this.parts = parts;
        ConfigFolder = configFolder;
        this.forceZerosForEmptyPrompt = forceZerosForEmptyPrompt;
        Name = name;
        Device = device;
    }

    public string Name { get; }

    /// <summary>A diffusers folder holding this pipeline's config files (the model folder, or the single-file configs).</summary>
    public string ConfigFolder { get; }

    public Device Device { get; }

    public bool IsXL => parts.TextEncoder2 is not null;

    public CLIPTokenizer Tokenizer => parts.Tokenizer!;

    public CLIPTextEncoderBase TextEncoder => parts.TextEncoder!;

    public CLIPTokenizer? Tokenizer2 => parts.Tokenizer2;

    public CLIPTextEncoderBase? TextEncoder2 => parts.TextEncoder2;

    public UNet2DConditionModel Unet => parts.Unet!;

    public AutoencoderKL Vae => parts.Vae!;

    public SchedulerConfig SchedulerConfig => parts.SchedulerConfig!;

    public int VaeScaleFactor => Vae.Config.DownsampleFactor;

    /// <summary>Default image side: the UNet's sample_size in pixels.</summary>
    public int DefaultSize => (Unet.Config.SampleSize ?? 64) * VaeScaleFactor;

    public GenerationResult Generate(GenerationRequest request, Action<PipelineStep>? onStep = null, CancellationToken cancel = default)
    {
        int height = request.Height ?? DefaultSize, width = request.Width ?? DefaultSize;
        Validate(request, width, height);
        var seed = request.Seed ?? Rng.RandomSeed();
        using var scheduler = request.Scheduler is null ? SchedulerRegistry.FromConfig(SchedulerConfig) : SchedulerRegistry.Create(request.Scheduler, SchedulerConfig);
        using var generator = Rng.CpuGenerator(seed);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        bool cfg = request.GuidanceScale > 1.0;

        // 1. Conditioning: CFG batches are [negative, positive].
        var cond = PromptEncoding.Encode(this, request.Prompt, request.NegativePrompt, request.ClipSkip, cfg, forceZerosForEmptyPrompt);
        var context = Repeat(cfg ? cat([cond.NegativeEmbeds!, cond.PromptEmbeds]) : cond.PromptEmbeds, request.NumImages, cfg);
        (Tensor TextEmbeds, Tensor TimeIds)? added = null;
        if (IsXL)
        {
            // SDXL micro-conditioning: (original_size, crops_coords_top_left, target_size).
            var timeIds = tensor(new float[] { height, width, 0, 0, height, width }).unsqueeze(0).to(Unet.ParameterDtype(), Device);
            var pooled = cfg ? cat([cond.NegativePooled!, cond.Pooled!]) : cond.Pooled!;
            added = (Repeat(pooled, request.NumImages, cfg), timeIds.repeat(context.shape[0], 1));
        }

        // 2. Timesteps and initial noise (drawn on the CPU generator, so seeds match diffusers on any device).
        scheduler.SetTimesteps(request.Steps, Device);
        long batch = request.NumImages;
        long[] shape = [batch, Unet.Config.InChannels, height / VaeScaleFactor, width / VaeScaleFactor];
        var latents = request.Latents is { } given
            ? CheckLatents(given, shape).to(Unet.ParameterDtype(), Device)
            : Rng.RandnTensor(shape, generator, Device, Unet.ParameterDtype());
        latents = latents * scheduler.InitNoiseSigma;

        // 3. Denoising loop.
        var timesteps = scheduler.Timesteps;
        int count = (int)timesteps.shape[0];
        for (int i = 0; i < count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            using var step = NewDisposeScope();
            var t = timesteps[i];
            var modelInput = scheduler.ScaleModelInput(cfg ? cat([latents, latents]) : latents, t);
            var noisePred = Unet.forward(modelInput, t, context, added);
            var guided = noisePred;
            if (cfg)
            {
                var chunks = noisePred.chunk(2);
                guided = chunks[0] + request.GuidanceScale * (chunks[1] - chunks[0]);
            }
            var next = scheduler.Step(guided, t, latents, generator).PrevSample;
            onStep?.Invoke(new PipelineStep(i, count, t, modelInput, noisePred, next));
            latents = next.MoveToOuterDisposeScope();
        }

        // 4. Decode: image = clamp(decode(latents / scaling_factor) / 2 + 0.5, 0, 1).
        var z = latents / Vae.ScalingFactor;
        if (Vae.ShiftFactor is double shift) z = z + shift;
        var images = (Vae.Decode(z.to(Vae.ParameterDtype())) / 2 + 0.5).clamp(0, 1).to(ScalarType.Float32).cpu();
        return new GenerationResult(images.MoveToOuterDisposeScope(), seed, scheduler.GetType().Name, width, height);
    }

    private void Validate(GenerationRequest request, int width, int height)
    {
        if (request.Steps < 1) throw new DreamBoothException($"--steps must be at least 1, not {request.Steps}.");
        if (request.NumImages < 1) throw new DreamBoothException($"--num-images must be at least 1, not {request.NumImages}.");
        if (width <= 0 || height <= 0 || width % VaeScaleFactor != 0 || height % VaeScaleFactor != 0)
            throw new DreamBoothException($"Width and height must be positive multiples of {VaeScaleFactor} for this model, not {width}×{height}.");
        // Refuse what cannot fit before starting: -W/-H 100000 or --num-images 100000 used to end in libtorch's
        // out-of-memory trace, after the model had loaded and maybe after the denoising.
        var needed = MinimumBytes(request.NumImages, width, height, request.GuidanceScale > 1.0);
        var memory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes; // physical memory, or the container's limit
        if (Device.type == DeviceType.CPU && needed > memory)
            throw new DreamBoothException($"{request.NumImages} image(s) of {width}×{height} need at least {needed / (double)(1L << 30):0.#} GiB " +
                $"of memory, more than the {memory / (double)(1L << 30):0.#} GiB here; make fewer or smaller images (or use --vae-slicing / --vae-tiling).");
    }

    /// <summary>A lower bound of generation's peak memory: the largest activations of the UNet's first level and of
    /// the VAE decoder's last level (input and output of one convolution), which are alive at the same time.</summary>
    private long MinimumBytes(long images, long width, long height, bool cfg)
    {
        long unetElement = Unet.ParameterDtype() == ScalarType.Float32 ? 4 : 2;
        long latentPixels = width / VaeScaleFactor * (height / VaeScaleFactor);
        double unet = (cfg ? 2.0 : 1.0) * images * Unet.Config.BlockOutChannels[0] * latentPixels * unetElement * 2;
        // Tiling decodes fixed-size tiles; slicing decodes one image at a time.
        double decodedPixels = Vae.UseTiling ? Math.Min(width * height, 4L * 512 * 512) : (double)width * height;
        double vae = (Vae.UseSlicing ? 1.0 : images) * Vae.Config.BlockOutChannels[0] * decodedPixels * 4 * 2;
        double output = images * 3.0 * width * height * 4;
        return (long)Math.Min(long.MaxValue, Math.Max(unet, vae + output));
    }

    private static Tensor CheckLatents(Tensor latents, long[] shape)
    {
        if (!latents.shape.SequenceEqual(shape))
            throw new DreamBoothException($"Latents have shape [{string.Join(", ", latents.shape)}], expected [{string.Join(", ", shape)}].");
        return latents;
    }

    // [negative; positive] (or [positive]) with each prompt repeated per image, as diffusers' repeat + view.
    private static Tensor Repeat(Tensor embeds, int n, bool cfg)
    {
        if (n == 1) return embeds;
        if (!cfg) return embeds.repeat_interleave(n, dim: 0);
        var halves = embeds.chunk(2);
        return cat([halves[0].repeat_interleave(n, dim: 0), halves[1].repeat_interleave(n, dim: 0)]);
    }

    public void Dispose() => parts.Dispose();
}
