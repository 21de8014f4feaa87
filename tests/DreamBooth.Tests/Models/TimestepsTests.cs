namespace DreamBooth.Tests.Models;

using DreamBooth.Models;
using static TorchSharp.torch;

public sealed class TimestepsTests
{
    [Fact]
    public void Timesteps_NoFlipShiftOneOddWidth_MatchesFormula()
    {
        // diffusers' other convention (flip_sin_to_cos=False, downscale_freq_shift=1) and an odd width (zero-padded).
        using var proj = new Timesteps(7, flipSinToCos: false, downscaleFreqShift: 1);
        using var t = tensor(new float[] { 0f, 10f, 999.5f });
        using var emb = proj.call(t);
        Assert.Equal([3L, 7], emb.shape);
        var values = emb.data<float>().ToArray();
        double[] ts = [0, 10, 999.5];
        for (int r = 0; r < 3; r++)
        {
            for (int i = 0; i < 3; i++)
            {
                double f = Math.Exp(-Math.Log(10000) * i / (3 - 1));
                Assert.Equal(Math.Sin(ts[r] * f), values[r * 7 + i], 3e-4);
                Assert.Equal(Math.Cos(ts[r] * f), values[r * 7 + 3 + i], 3e-4);
            }
            Assert.Equal(0f, values[r * 7 + 6]);
        }
    }

    [Fact]
    public void Timesteps_ScalarInput_IsRejected()
    {
        using var proj = new Timesteps(8, true, 0);
        using var t = tensor(5L);
        Assert.Throws<ArgumentException>(() => proj.call(t));
    }
}
