// Mirrors the numpy calls of diffusers' set_timesteps (np.linspace, np.arange, np.round, np.interp), the shared
// helpers _convert_to_karras / _sigma_to_t, and the two torch float32 factories the noise schedules start from
// (torch.linspace, torch.cumprod on the CPU), so that tables, timesteps and sigmas match the reference bit for bit.
namespace DreamBooth.Schedulers;

internal static class ScheduleMath
{
    /// <summary><c>np.linspace(start, stop, num)</c> in float64: <c>i * ((stop - start) / (num - 1)) + start</c>, last = stop.</summary>
    public static double[] Linspace(double start, double stop, int num)
    {
        var y = new double[num];
        var div = num - 1;
        var delta = stop - start;
        var step = div > 0 ? delta / div : double.NaN;
        for (var i = 0; i < num; i++)
        {
            // numpy divides first when the step underflows to zero (denormal ranges).
            double v = div <= 0 ? i * delta : step == 0 ? i / (double)div * delta : i * step;
            y[i] = v + start;
        }
        if (num > 1) y[^1] = stop;
        return y;
    }

    /// <summary>
    /// <c>np.arange(start, stop, step)</c> for a float step: length ceil((stop - start) / step), element i =
    /// start + i * ((start + step) - start), as numpy's fill does (so 1000 / (1000 / 61) gives 62 elements, like diffusers).
    /// </summary>
    public static double[] Arange(double start, double stop, double step)
    {
        var length = Math.Max(0, (long)Math.Ceiling((stop - start) / step));
        var y = new double[length];
        if (length == 0) return y;
        y[0] = start;
        if (length == 1) return y;
        y[1] = start + step;
        var delta = y[1] - y[0];
        for (var i = 2; i < length; i++) y[i] = start + i * delta;
        return y;
    }

    /// <summary><c>np.round</c>: half to even.</summary>
    public static double Round(double x) => Math.Round(x, MidpointRounding.ToEven);

    public static double[] Round(double[] x) => x.Select(Round).ToArray();

    public static double[] Reverse(double[] x) => x.Reverse().ToArray();

    /// <summary><c>np.interp(x, np.arange(len(fp)), fp)</c> in float64 (numpy's slope formula, exact at the nodes).</summary>
    public static double Interp(double x, IReadOnlyList<float> fp)
    {
        var n = fp.Count;
        if (double.IsNaN(x)) return x;
        if (x < 0) return fp[0];
        if (x >= n - 1) return fp[n - 1];
        var j = (int)Math.Floor(x);
        if (j == x) return fp[j];
        var slope = ((double)fp[j + 1] - fp[j]) / ((j + 1.0) - j);
        return slope * (x - j) + fp[j];
    }

    /// <summary>Karras et al. (2022) rho=7 schedule between <paramref name="sigmaMax"/> and <paramref name="sigmaMin"/> (float64).</summary>
    public static double[] KarrasSigmas(double sigmaMin, double sigmaMax, int numInferenceSteps)
    {
        const double rho = 7.0;
        var ramp = Linspace(0, 1, numInferenceSteps);
        var minInvRho = Math.Pow(sigmaMin, 1 / rho);
        var maxInvRho = Math.Pow(sigmaMax, 1 / rho);
        return ramp.Select(r => Math.Pow(maxInvRho + r * (minInvRho - maxInvRho), rho)).ToArray();
    }

    /// <summary>
    /// <c>_sigma_to_t</c>: the fractional training timestep whose log-sigma is <paramref name="sigma"/>'s, by linear
    /// interpolation in the float32 <paramref name="logSigmas"/> table (ascending). numpy (1.x value-based casting)
    /// does the distances and the weight in float32 because the table is float32; only the final blend is float64.
    /// </summary>
    public static double SigmaToT(double sigma, IReadOnlyList<float> logSigmas)
    {
        var logSigma = (float)Math.Log(Math.Max(sigma, 1e-10));
        // Last index with logSigmas[i] <= logSigma (cumsum(dists >= 0).argmax()), 0 when there is none.
        var low = 0;
        for (var i = 0; i < logSigmas.Count; i++) if (logSigma - logSigmas[i] >= 0) low = i;
        low = Math.Min(low, logSigmas.Count - 2);
        var high = low + 1;
        float lo = logSigmas[low], hi = logSigmas[high];
        var w = Math.Clamp((lo - logSigma) / (lo - hi), 0f, 1f);
        return (double)(1f - w) * low + (double)w * high;
    }

    /// <summary>The float32 training sigmas sqrt((1 - ᾱ) / ᾱ), ascending in t.</summary>
    public static float[] TrainingSigmas(float[] alphasCumprod) =>
        alphasCumprod.Select(a => MathF.Sqrt((1f - a) / a)).ToArray();

    /// <summary>
    /// <c>torch.linspace(start, end, steps, dtype=float32)</c> as PyTorch's CPU kernel computes it (the AVX2 build the
    /// reference used): step = (end − start)/(steps − 1) in float32; the first half counts up from start, the second
    /// half down from end; vectorised blocks of 8 start at base = start + step·idx and add k·step, with fused
    /// multiply-adds (the kernel is compiled with FMA contraction); the tail beyond the last 16-element pair is scalar.
    /// libtorch's own result depends on the host's vector width, hence this fixed emulation.
    /// </summary>
    public static float[] TorchLinspace(double start, double end, int steps)
    {
        const int width = 8;
        var result = new float[steps];
        if (steps == 0) return result;
        float s = (float)start, e = (float)end;
        if (steps == 1) { result[0] = s; return result; }
        var step = (e - s) / (steps - 1);
        var halfway = steps / 2;
        float At(long idx) => idx < halfway ? MathF.FusedMultiplyAdd(step, idx, s) : MathF.FusedMultiplyAdd(-step, steps - idx - 1, e);
        var vectorEnd = steps / (2 * width) * (2 * width);
        var i = 0;
        for (; i < vectorEnd; i += width)
        {
            var b = At(i);
            for (var k = 0; k < width; k++) result[i + k] = MathF.FusedMultiplyAdd(k, step, b);
        }
        for (; i < steps; i++) result[i] = At(i);
        return result;
    }

    /// <summary><c>torch.cumprod</c> of float32 on the CPU: the running product is kept in double, each output rounded.</summary>
    public static float[] TorchCumprod(float[] x)
    {
        var result = new float[x.Length];
        var acc = 1.0;
        for (var i = 0; i < x.Length; i++)
        {
            acc *= x[i];
            result[i] = (float)acc;
        }
        return result;
    }
}
