namespace DreamBooth.Schedulers;

/// <summary>The model parameterisations diffusers' schedulers accept: ε, v (Salimans &amp; Ho 2022) and x_0.</summary>
internal static class PredictionTypes
{
    public static void Check(string className, string? predictionType, bool allowSample)
    {
        if (predictionType is "epsilon" or "v_prediction" || (allowSample && predictionType == "sample")) return;
        throw new DreamBoothException(
            $"{className}: prediction_type '{predictionType}' is not supported; use epsilon, v_prediction{(allowSample ? " or sample" : "")}.");
    }
}
