// Mirrors diffusers src/diffusers/models/embeddings.py::Timesteps (get_timestep_embedding, scale 1, max_period 10000).
namespace DreamBooth.Models;

using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

/// <summary>Sinusoidal features of (possibly fractional) timesteps; no parameters. Always computes in float32.</summary>
public sealed class Timesteps : Module<Tensor, Tensor>
{
    private const double MaxPeriod = 10000;
    private readonly long numChannels;
    private readonly bool flipSinToCos;
    private readonly double downscaleFreqShift;

    public Timesteps(long numChannels, bool flipSinToCos, double downscaleFreqShift) : base(nameof(Timesteps))
    {
        this.numChannels = numChannels;
        this.flipSinToCos = flipSinToCos;
        this.downscaleFreqShift = downscaleFreqShift;
        RegisterComponents();
    }

    /// <param name="timesteps">[N], any numeric dtype.</param>
    /// <returns>[N, numChannels] float32: [sin, cos] halves, or [cos, sin] with flipSinToCos.</returns>
    public override Tensor forward(Tensor timesteps)
    {
        if (timesteps.dim() != 1)
            throw new ArgumentException($"Timesteps expects a 1-D tensor, got shape [{string.Join(", ", timesteps.shape)}].", nameof(timesteps));
        using var scope = NewDisposeScope();
        long half = numChannels / 2;
        // Same op order as diffusers (float32 throughout) so the features match bit for bit.
        var exponent = Ops.Mul(Ops.Arange(0, half, ScalarType.Float32, timesteps.device), -Math.Log(MaxPeriod));
        exponent = Ops.Div(exponent, half - downscaleFreqShift);
        var freqs = exponent.exp();                                                          // [half]
        var args = timesteps.to(ScalarType.Float32)[.., TensorIndex.None] * freqs[TensorIndex.None, ..];   // [N, half]
        var emb = cat([args.sin(), args.cos()], -1);                                         // [N, 2·half]
        if (flipSinToCos) emb = cat([emb.narrow(1, half, half), emb.narrow(1, 0, half)], -1);   // [cos, sin]
        if (numChannels % 2 == 1) emb = functional.pad(emb, [0, 1, 0, 0]);                  // odd width: one zero column
        return emb.MoveToOuterDisposeScope();
    }
}
