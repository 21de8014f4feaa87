namespace DreamBooth.IO;

using System.Runtime.InteropServices;
using System.Text;

/// <summary>
/// Whole-file reads of user files (images, configs, prompt lists) that cannot hang or exhaust memory: only regular
/// files are opened (opening a named pipe blocks until a writer comes; /dev/zero never ends), and a file larger
/// than the caller's limit is refused before it is read.
/// </summary>
public static partial class BoundedFile
{
    /// <summary>Largest image file we read (a PIL-sized 178-megapixel PNG stays under it).</summary>
    public const long MaxImageBytes = 1L << 30;

    /// <summary>Largest config, tokenizer or prompt file we read.</summary>
    public const long MaxTextBytes = 64L << 20;

    public static byte[] ReadAllBytes(string path, long maxBytes)
    {
        EnsureRegular(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
        if (stream.Length > maxBytes) throw TooLarge(path, stream.Length, maxBytes);
        var bytes = new byte[stream.Length];
        int read = 0, n;
        while (read < bytes.Length && (n = stream.Read(bytes, read, bytes.Length - read)) > 0) read += n;
        // Never follow a file that grows while we read it.
        if (read < bytes.Length || stream.ReadByte() != -1) throw new DreamBoothException($"{path}: the file changed while being read.");
        return bytes;
    }

    /// <summary>The file as text (UTF-8 unless a byte-order mark says otherwise, as <see cref="File.ReadAllText(string)"/>).</summary>
    public static string ReadAllText(string path, long maxBytes = MaxTextBytes)
    {
        var bytes = ReadAllBytes(path, maxBytes);
        using var reader = new StreamReader(new MemoryStream(bytes), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    /// <summary>Throws a <see cref="DreamBoothException"/> unless <paramref name="path"/> (after symlinks) is a regular file.</summary>
    public static void EnsureRegular(string path)
    {
        var kind = Kind(path);
        if (kind is not null) throw new DreamBoothException($"{path}: not a regular file ({kind}).");
    }

    /// <summary>Null for a regular file (or where the type cannot be told), else what it is, e.g. "a named pipe".</summary>
    public static string? Kind(string path)
    {
        if (OperatingSystem.IsWindows()) return null;
        FileStatus status;
        try
        {
            if (Stat(path, out status) != 0) return null; // missing or unreadable: the open that follows says why
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        return (status.Mode & 0xF000) switch
        {
            0x8000 => null,
            0x1000 => "a named pipe",
            0x2000 => "a character device",
            0x6000 => "a block device",
            0x4000 => "a directory",
            0xC000 => "a socket",
            _ => "not a plain file",
        };
    }

    private static DreamBoothException TooLarge(string path, long size, long maxBytes) =>
        new($"{path}: too large to read ({Bytes(size)}, limit {Bytes(maxBytes)}).");

    private static string Bytes(long n) => n >= 1 << 20 ? $"{n / (double)(1 << 20):0.#} MiB" : $"{n:N0} bytes";

    // The runtime's own stat shim (used by System.IO): Flags and Mode lead a struct that has only grown at its end,
    // so a generous fixed size covers every runtime version.
    [StructLayout(LayoutKind.Sequential, Size = 512)]
    private struct FileStatus
    {
        public int Flags;
        public int Mode;
    }

    [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_Stat", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Stat(string path, out FileStatus output);
}
