// Mirrors the multistep updates of diffusers' DPMSolverMultistepScheduler (v0.27.2):
// multistep_dpm_solver_second_order_update and multistep_dpm_solver_third_order_update.
namespace DreamBooth.Schedulers;

using static TorchSharp.torch;

/// <summary>
/// Higher-order DPM-Solver updates from the history of converted model outputs m (newest last). With
/// r_0 = h_0 / h, D0 = m0 and D1 = (m0 − m1) / r0 approximates h · dm/dλ (Lu et al. 2022b, Algorithm 2).
/// All coefficients are float32 scalars in diffusers' order of operations.
/// </summary>
internal static class DpmSolverMath
{
    /// <summary>α_t = 1 / sqrt(σ² + 1), σ_t = σ α_t.</summary>
    public static (float Alpha, float Sigma) AlphaSigma(float sigma)
    {
        var alpha = 1f / MathF.Sqrt(sigma * sigma + 1f);
        return (alpha, sigma * alpha);
    }

    /// <summary>λ = log α_t − log σ_t (half log-SNR; +∞ at σ = 0).</summary>
    public static float Lambda(float alpha, float sigma) => MathF.Log(alpha) - MathF.Log(sigma);

    public static Tensor SecondOrder(string algorithm, string solverType, Tensor?[] outputs, float[] sigmas, int i, Tensor sample, Tensor? noise)
    {
        var (alphaT, sigmaT) = AlphaSigma(sigmas[i + 1]);
        var (alphaS0, sigmaS0) = AlphaSigma(sigmas[i]);
        var (alphaS1, sigmaS1) = AlphaSigma(sigmas[i - 1]);
        var lambdaT = Lambda(alphaT, sigmaT);
        var lambdaS0 = Lambda(alphaS0, sigmaS0);
        var lambdaS1 = Lambda(alphaS1, sigmaS1);

        Tensor m0 = outputs[^1]!, m1 = outputs[^2]!;
        float h = lambdaT - lambdaS0, h0 = lambdaS0 - lambdaS1;
        var r0 = h0 / h;
        var d0 = m0;
        var d1 = 1f / r0 * (m0 - m1);

        var expNegH = MathF.Exp(-h);
        var expH = MathF.Exp(h);
        var midpoint = solverType == "midpoint";
        switch (algorithm)
        {
            case "dpmsolver++":
                return midpoint
                    ? sigmaT / sigmaS0 * sample - alphaT * (expNegH - 1f) * d0 - 0.5f * (alphaT * (expNegH - 1f)) * d1
                    : sigmaT / sigmaS0 * sample - alphaT * (expNegH - 1f) * d0 + alphaT * ((expNegH - 1f) / h + 1f) * d1;
            case "dpmsolver":
                return midpoint
                    ? alphaT / alphaS0 * sample - sigmaT * (expH - 1f) * d0 - 0.5f * (sigmaT * (expH - 1f)) * d1
                    : alphaT / alphaS0 * sample - sigmaT * (expH - 1f) * d0 - sigmaT * ((expH - 1f) / h - 1f) * d1;
            case "sde-dpmsolver++":
            {
                var exp2 = MathF.Exp(-2f * h);
                var x = sigmaT / sigmaS0 * expNegH * sample + alphaT * (1f - exp2) * d0;
                x = midpoint
                    ? x + 0.5f * (alphaT * (1f - exp2)) * d1
                    : x + alphaT * ((1f - exp2) / (-2f * h) + 1f) * d1;
                return x + sigmaT * MathF.Sqrt(1f - MathF.Exp(-2f * h)) * noise!;
            }
            default:   // sde-dpmsolver
            {
                var x = alphaT / alphaS0 * sample - 2f * (sigmaT * (expH - 1f)) * d0;
                x = midpoint
                    ? x - sigmaT * (expH - 1f) * d1
                    : x - 2f * (sigmaT * ((expH - 1f) / h - 1f)) * d1;
                return x + sigmaT * MathF.Sqrt(MathF.Exp(2f * h) - 1f) * noise!;
            }
        }
    }

    public static Tensor ThirdOrder(string algorithm, Tensor?[] outputs, float[] sigmas, int i, Tensor sample)
    {
        var (alphaT, sigmaT) = AlphaSigma(sigmas[i + 1]);
        var (alphaS0, sigmaS0) = AlphaSigma(sigmas[i]);
        var (alphaS1, sigmaS1) = AlphaSigma(sigmas[i - 1]);
        var (alphaS2, sigmaS2) = AlphaSigma(sigmas[i - 2]);
        var lambdaT = Lambda(alphaT, sigmaT);
        var lambdaS0 = Lambda(alphaS0, sigmaS0);
        var lambdaS1 = Lambda(alphaS1, sigmaS1);
        var lambdaS2 = Lambda(alphaS2, sigmaS2);

        Tensor m0 = outputs[^1]!, m1 = outputs[^2]!, m2 = outputs[^3]!;
        float h = lambdaT - lambdaS0, h0 = lambdaS0 - lambdaS1, h1 = lambdaS1 - lambdaS2;
        float r0 = h0 / h, r1 = h1 / h;
        var d0 = m0;
        var d10 = 1f / r0 * (m0 - m1);
        var d11 = 1f / r1 * (m1 - m2);
        var d1 = d10 + r0 / (r0 + r1) * (d10 - d11);
        var d2 = 1f / (r0 + r1) * (d10 - d11);

        if (algorithm == "dpmsolver++")
        {
            var e = MathF.Exp(-h);
            return sigmaT / sigmaS0 * sample - alphaT * (e - 1f) * d0 + alphaT * ((e - 1f) / h + 1f) * d1
                   - alphaT * ((e - 1f + h) / (h * h) - 0.5f) * d2;
        }
        var eh = MathF.Exp(h);
        return alphaT / alphaS0 * sample - sigmaT * (eh - 1f) * d0 - sigmaT * ((eh - 1f) / h - 1f) * d1
               - sigmaT * ((eh - 1f - h) / (h * h) - 0.5f) * d2;
    }
}
