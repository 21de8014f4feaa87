namespace DreamBooth.Cli.Commands;

using System.Runtime.InteropServices;
using DreamBooth.Cli.Settings;
using DreamBooth.Torch;
using DreamBooth.Cli.Rendering;
using Spectre.Console;
using Spectre.Console.Cli;
using TorchSharp;

/// <summary>Like `diffusers-cli env`: versions and devices, and a check that the tensor engine starts.</summary>
public sealed class EnvCommand(IAnsiConsole console) : Command<CommonSettings>
{
    public override int Execute(CommandContext context, CommonSettings settings, CancellationToken cancellationToken)
    {
        TorchRuntime.SetThreads(settings.Threads);
        var device = TorchRuntime.ResolveDevice(settings.Device);
        using var probe = torch.ones(2, 2, device: device).matmul(torch.ones(2, 2, device: device));
        var table = new Table().HideHeaders().AddColumn("").AddColumn("");
        table.AddRow("dreambooth", CliApp.Version);
        table.AddRow(".NET", RuntimeInformation.FrameworkDescription);
        table.AddRow("OS", RuntimeInformation.OSDescription);
        table.AddRow("TorchSharp", typeof(torch).Assembly.GetName().Version?.ToString() ?? "?");
        table.AddRow("libtorch", torch.__version__);
        table.AddRow("CUDA available", torch.cuda.is_available() ? $"yes ({torch.cuda.device_count()} device(s))" : "no");
        table.AddRow("device", device.ToString());
        table.AddRow("threads", torch.get_num_threads().ToString());
        table.AddRow("tensor check", probe.sum().item<float>() == 8f ? "ok" : "[red]wrong result[/]");
        table.AddRow("CPU", Format.Text(CpuInfo.Model));
        table.AddRow("CPU ISA", Format.Text(CpuInfo.Isa));
        table.AddRow("oneDNN", NativeContext.OneDnnEnabled ? $"on ({NativeContext.OneDnnVariable}=1)" : $"off (faster here; {NativeContext.OneDnnVariable}=1 turns it on)");
        table.AddRow("huge pages", TorchRuntime.HugePages ? $"on for large tensors ({TorchRuntime.HugePagesVariable}=0 turns them off)" : "off");
        table.AddRow("MKL kernels", NativeContext.MklFastPaths ? $"vectorised on this AMD CPU ({NativeContext.MklVariable}=1)"
                                   : CpuInfo.Vendor == "AuthenticAMD" ? $"generic on this AMD CPU ({NativeContext.MklVariable}=1: ~1.9× faster GEMM)" : "MKL's own choice");
        foreach (var dtype in new[] { torch.ScalarType.Float32, torch.ScalarType.BFloat16 })
        {
            var check = KernelCheck.Run(device, dtype);
            table.AddRow($"kernel self-check {TorchRuntime.DtypeName(dtype)}", check.Passed ? Format.Text(check.Summary) : $"[red]{Format.Text(check.Summary)}[/]");
        }
        console.Write(table);
        return 0;
    }
}
