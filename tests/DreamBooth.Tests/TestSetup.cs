namespace DreamBooth.Tests;

using System.Runtime.CompilerServices;

internal static class TestSetup
{
    // xunit runs two tests at a time on two cores: one libtorch thread each avoids OpenMP oversubscription,
    // which on a loaded 2-core machine makes every op spin and wait.
    [ModuleInitializer]
    internal static void SingleThreadedTorch()
    {
        DreamBooth.Torch.TorchRuntime.SetThreads(1);
    }
}
