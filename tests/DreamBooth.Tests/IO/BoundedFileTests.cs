namespace DreamBooth.Tests.IO;

using System.Runtime.InteropServices;
using DreamBooth.Imaging;
using DreamBooth.IO;

public sealed partial class BoundedFileTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("bounded-file").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int MkFifo(string path, uint mode);

    [Fact]
    public async Task ImageLoader_NamedPipe_RefusedAtOnce()
    {
        // Training decodes every photo through ImageLoader.Load: opening a pipe used to block forever.
        var pipe = Path.Combine(dir, "photo.jpg");
        Assert.Equal(0, MkFifo(pipe, 0b110_100_100));
        var load = Task.Run(() => Assert.Throws<DreamBoothException>(() => ImageLoader.Load(pipe)));
        Assert.Same(load, await Task.WhenAny(load, Task.Delay(TimeSpan.FromSeconds(30))));
        Assert.Equal($"{pipe}: not a regular file (a named pipe).", (await load).Message);
    }

    [Fact]
    public void ReadAllBytes_OverTheLimit_RefusedNamingSizes()
    {
        var file = Path.Combine(dir, "big.json");
        File.WriteAllBytes(file, new byte[5000]);
        var e = Assert.Throws<DreamBoothException>(() => BoundedFile.ReadAllBytes(file, 4096));
        Assert.Equal($"{file}: too large to read (5,000 bytes, limit 4,096 bytes).", e.Message);
        Assert.Equal(4096, BoundedFile.ReadAllBytes(file, 5000).Length - 904);
    }

    [Fact]
    public void ReadAllText_LinkToDevZero_Refused()
    {
        var link = Path.Combine(dir, "config.json");
        File.CreateSymbolicLink(link, "/dev/zero");
        var e = Assert.Throws<DreamBoothException>(() => BoundedFile.ReadAllText(link));
        Assert.Contains("not a regular file (a character device)", e.Message);
    }
}
