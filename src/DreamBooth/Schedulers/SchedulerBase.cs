// Mirrors the parts every diffusers scheduler shares: the training noise schedule built in __init__, the timestep
// tensor set by set_timesteps, and add_noise / get_velocity of the ᾱ-parameterised schedulers.
namespace DreamBooth.Schedulers;

using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>Base of every scheduler: the β/ᾱ tables of the config, the timestep tensor, and ᾱ-based add_noise / get_velocity.</summary>
public abstract class SchedulerBase : IScheduler
{
    private Tensor? timesteps;
    private bool disposed;

    /// <param name="config">Any source config (explicit keys win, the rest take this class's defaults).</param>
    /// <param name="classDefaults">This class's __init__ defaults, one entry per config key it reads.</param>
    /// <param name="terminalAlphaFloor">
    /// Sigma schedulers replace ᾱ_T = 0 of a zero-terminal-SNR schedule by 2^-24 so that σ_max stays finite.
    /// </param>
    protected SchedulerBase(SchedulerConfig? config, SchedulerConfig classDefaults, bool allowSigmoid = false, bool terminalAlphaFloor = false)
    {
        TorchRuntime.EnsureLoaded();
        Name = GetType().Name;
        Config = SchedulerConfig.Resolve(config, Name, classDefaults);
        NumTrainTimesteps = Config.NumTrainTimesteps!.Value;
        if (NumTrainTimesteps < 1) throw new DreamBoothException($"{Name}: num_train_timesteps must be positive.");

        // Only classes that have the rescale_betas_zero_snr key honour it (a DDIM config's key means nothing to LMS).
        var rescale = classDefaults.RescaleBetasZeroSnr is not null && Config.RescaleBetasZeroSnr == true;
        var betas = BetaSchedule.Betas(Config, Name, allowSigmoid, rescale);
        AlphasCumprodTable = BetaSchedule.AlphasCumprod(betas);
        if (rescale && terminalAlphaFloor) AlphasCumprodTable[^1] = MathF.Pow(2, -24);
        BetasTensor = tensor(betas).DetachFromDisposeScope();
        AlphasCumprodTensor = tensor(AlphasCumprodTable).DetachFromDisposeScope();
    }

    public SchedulerConfig Config { get; }

    public virtual int Order => 1;

    public virtual double InitNoiseSigma => 1.0;

    public Tensor Timesteps => timesteps ?? throw new InvalidOperationException($"{Name}: call SetTimesteps before using the timesteps.");

    public virtual Tensor? Sigmas => null;

    /// <summary>Number of inference steps of the last <see cref="SetTimesteps"/> (null before).</summary>
    public int? NumInferenceSteps { get; protected set; }

    protected string Name { get; }

    protected int NumTrainTimesteps { get; }

    /// <summary>β_t (after any zero-terminal-SNR rescaling), float32, CPU.</summary>
    protected Tensor BetasTensor { get; }

    /// <summary>ᾱ_t, float32, CPU.</summary>
    protected Tensor AlphasCumprodTensor { get; }

    /// <summary>ᾱ_t as floats, for the per-step scalar arithmetic (done in float32 like diffusers' 0-dim tensors).</summary>
    protected float[] AlphasCumprodTable { get; }

    /// <summary>The values of <see cref="Timesteps"/>, for index lookups without device round trips.</summary>
    protected double[] TimestepValues { get; private set; } = [];

    public abstract void SetTimesteps(int numInferenceSteps, Device? device = null);

    public virtual Tensor ScaleModelInput(Tensor sample, double timestep) => sample.alias();

    public abstract SchedulerStepOutput Step(Tensor modelOutput, double timestep, Tensor sample, Generator? generator = null);

    public Tensor ScaleModelInput(Tensor sample, Tensor timestep) => ScaleModelInput(sample, timestep.ToDouble());

    public SchedulerStepOutput Step(Tensor modelOutput, Tensor timestep, Tensor sample, Generator? generator = null) =>
        Step(modelOutput, timestep.ToDouble(), sample, generator);

    public abstract Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps);

    /// <summary>ᾱ at a (possibly negative, Python-style) index.</summary>
    protected float AlphaProd(long t) => AlphasCumprodTable[t >= 0 ? t : AlphasCumprodTable.Length + t];

    protected void CheckStepCount(int numInferenceSteps)
    {
        if (numInferenceSteps < 1) throw new DreamBoothException($"{Name}: the number of inference steps must be at least 1, not {numInferenceSteps}.");
        if (numInferenceSteps > NumTrainTimesteps)
            throw new DreamBoothException($"{Name}: {numInferenceSteps} inference steps exceed num_train_timesteps ({NumTrainTimesteps}).");
    }

    /// <summary>Replaces the timestep tensor (int64 or float32/64 as diffusers builds it) and its cached values.</summary>
    protected void SetTimestepTensor(double[] values, ScalarType dtype, Device? device)
    {
        timesteps?.Dispose();
        using var cpu = dtype == ScalarType.Int64
            ? tensor(values.Select(v => (long)v).ToArray())
            : tensor(values, dtype);
        timesteps = (device is null || device.type == DeviceType.CPU ? cpu.clone() : cpu.to(device)).DetachFromDisposeScope();
        TimestepValues = values.Select(v => dtype == ScalarType.Float32 ? (double)(float)v : v).ToArray();
    }

    protected void CheckTimestepsSet()
    {
        if (NumInferenceSteps is null) throw new InvalidOperationException($"{Name}: call SetTimesteps before Step.");
    }

    /// <summary>A tensor kept across calls: its own handle, outside any dispose scope of the caller.</summary>
    protected static Tensor Keep(Tensor t) => t.alias().DetachFromDisposeScope();

    protected static void DisposeAll(List<Tensor> tensors)
    {
        foreach (var t in tensors) t.Dispose();
        tensors.Clear();
    }

    /// <summary>sqrt(ᾱ_t) x_0 + sqrt(1 − ᾱ_t) ε, with ᾱ_t gathered per batch element (float32 table ** 0.5 as diffusers).</summary>
    protected Tensor AddNoiseAlphas(Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        var (sqrtAlpha, sqrtOneMinusAlpha) = GatherAlphas(originalSamples, timesteps);
        return Ops.Add(sqrtAlpha * originalSamples, sqrtOneMinusAlpha * noise).MoveToOuterDisposeScope();
    }

    /// <summary>v = sqrt(ᾱ_t) ε − sqrt(1 − ᾱ_t) x_0 (Salimans &amp; Ho 2022).</summary>
    protected Tensor GetVelocityAlphas(Tensor sample, Tensor noise, Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        var (sqrtAlpha, sqrtOneMinusAlpha) = GatherAlphas(sample, timesteps);
        return (sqrtAlpha * noise - sqrtOneMinusAlpha * sample).MoveToOuterDisposeScope();
    }

    private (Tensor SqrtAlpha, Tensor SqrtOneMinusAlpha) GatherAlphas(Tensor like, Tensor timesteps)
    {
        var shape = new long[like.dim()];
        Array.Fill(shape, 1L);
        shape[0] = -1;   // [B, 1, 1, 1]
        if (like.dtype == ScalarType.Float32)
        {
            // Exactly rounded float32 square roots: libtorch's vectorised CPU sqrt is not always (1 ulp off on AVX-512).
            using var cpuTimesteps = timesteps.flatten().to(ScalarType.Int64).cpu();
            var ts = cpuTimesteps.data<long>().ToArray();
            var sqrtAlpha = ts.Select(t => MathF.Sqrt(AlphaProd(t))).ToArray();
            var sqrtOneMinusAlpha = ts.Select(t => MathF.Sqrt(1f - AlphaProd(t))).ToArray();
            return (tensor(sqrtAlpha, device: like.device).reshape(shape), tensor(sqrtOneMinusAlpha, device: like.device).reshape(shape));
        }
        // Other dtypes: the table is cast first and the roots taken in that dtype, as diffusers does.
        var alphas = AlphasCumprodTensor.to(like.device).to(like.dtype);
        var picked = alphas.index_select(0, timesteps.to(like.device).flatten().to(ScalarType.Int64));   // [B]
        return (picked.sqrt().reshape(shape), Ops.Sub(1.0, picked).sqrt().reshape(shape));
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Dispose(true);
        timesteps?.Dispose();
        BetasTensor.Dispose();
        AlphasCumprodTensor.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases tensors a subclass keeps (histories, sigma tables).</summary>
    protected virtual void Dispose(bool disposing) { }
}
