namespace DreamBooth.Tests.Torch;

using DreamBooth.Torch;
using static TorchSharp.torch;

public sealed class TorchRuntimeTests
{
    [Fact]
    public void TorchRuntime_Loads_AndComputes()
    {
        TorchRuntime.EnsureLoaded();
        using var a = tensor(new float[] { 1, 2, 3 });
        Assert.Equal(6f, a.sum().item<float>());
    }

    [Fact]
    public void ResolveDevice_Cpu_IsCpu()
    {
        Assert.Equal(TorchSharp.DeviceType.CPU, TorchRuntime.ResolveDevice("cpu").type);
    }

    [Theory]
    [InlineData("cuda")]
    [InlineData("cuda:3")]
    public void ResolveDevice_CudaAbsent_ClearError(string spec)
    {
        if (cuda.is_available()) return; // only meaningful on a CPU-only machine
        var e = Assert.Throws<DreamBoothException>(() => TorchRuntime.ResolveDevice(spec));
        Assert.Contains("CUDA is not available", e.Message);
    }

    [Fact]
    public void ResolveDevice_Garbage_ClearError()
    {
        var e = Assert.Throws<DreamBoothException>(() => TorchRuntime.ResolveDevice("tpu"));
        Assert.Contains("use cpu, cuda or cuda:N", e.Message);
    }
}
