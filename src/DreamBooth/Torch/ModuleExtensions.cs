namespace DreamBooth.Torch;

using static TorchSharp.torch;

public static class ModuleExtensions
{
    /// <summary>The dtype of a module's first parameter (all our models are uniform).</summary>
    public static ScalarType ParameterDtype(this nn.Module module) =>
        module.parameters().FirstOrDefault()?.dtype ?? ScalarType.Float32;
}
