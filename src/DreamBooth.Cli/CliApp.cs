namespace DreamBooth.Cli;

public static class CliApp
{
    public static int Run(string[] args)
    {
        DreamBooth.Torch.TorchRuntime.EnsureLoaded();
        Console.WriteLine("ok");
        return 0;
    }
}
