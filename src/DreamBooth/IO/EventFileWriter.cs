namespace DreamBooth.IO;

using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;

/// <summary>
/// A TensorBoard event file (<c>events.out.tfevents.*</c>): TFRecord records, each an <c>Event</c> protocol buffer.
/// Written here by hand — the few fields TensorBoard needs for scalars and images — because TorchSharp's
/// SummaryWriter stores wall times as 0 or .NET ticks instead of Unix seconds.
/// </summary>
/// <remarks>
/// A record is: length (uint64, little-endian), masked CRC32C of those 8 bytes, the data, masked CRC32C of the data.
/// Event: wall_time = 1 (double), step = 2 (int64), file_version = 3 (string), summary = 5, session_log = 6.
/// Summary.value = 1 (repeated Value); Value: tag = 1, simple_value = 2 (float), image = 4;
/// Image: height = 1, width = 2, colorspace = 3, encoded_image_string = 4. SessionLog: status = 1 (START = 1).
/// </remarks>
public sealed class EventFileWriter : IDisposable
{
    private static int count;                                  // PyTorch's global_uid: files of one process stay distinct
    private readonly FileStream stream;

    /// <summary>Starts a new event file in <paramref name="dir"/>, named as PyTorch names them, with the version record.</summary>
    public EventFileWriter(string dir)
    {
        Directory.CreateDirectory(dir);
        var seconds = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString("D10", CultureInfo.InvariantCulture);
        var name = $"events.out.tfevents.{seconds}.{Environment.MachineName}.{Environment.ProcessId}.{Interlocked.Increment(ref count)}";
        Path = System.IO.Path.Combine(dir, name);
        stream = new FileStream(Path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        WriteEvent(0, e => e.String(3, "brain.Event:2"));
    }

    public string Path { get; }

    /// <summary>A scalar (stored as float32, as TensorBoard's simple_value).</summary>
    public void Scalar(string tag, long step, double value) =>
        WriteEvent(step, e => e.Message(5, s => s.Message(1, v => v.String(1, tag).Float(2, (float)value))));

    /// <summary>An encoded image (PNG) of the given size, RGB.</summary>
    public void Image(string tag, long step, byte[] png, int width, int height) =>
        WriteEvent(step, e => e.Message(5, s => s.Message(1, v => v.String(1, tag).Message(4, i => i.Varint(1, (ulong)height).Varint(2, (ulong)width).Varint(3, 3).Bytes(4, png)))));

    /// <summary>
    /// A session start at <paramref name="step"/>: TensorBoard then drops what earlier files logged from that step on
    /// (PyTorch's purge_step), so a resumed or repeated run does not show two curves.
    /// </summary>
    public void SessionStart(long step) => WriteEvent(step, e => e.Message(6, s => s.Varint(1, 1)));

    private void WriteEvent(long step, Action<ProtoWriter> fields)
    {
        var e = new ProtoWriter();
        e.Double(1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0);
        if (step != 0) e.Varint(2, (ulong)step);
        fields(e);
        var data = e.ToArray();
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], MaskedCrc(header[..8]));
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, MaskedCrc(data));
        stream.Write(header);
        stream.Write(data);
        stream.Write(footer);
        stream.Flush();
    }

    /// <summary>TFRecord's checksum: CRC32C, rotated right by 15 bits, plus 0xa282ead8.</summary>
    public static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        uint crc = ~0u;
        foreach (var b in data) crc = BitOperations.Crc32C(crc, b);
        crc = ~crc;
        return unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8u);
    }

    public void Dispose() => stream.Dispose();

    /// <summary>Protocol buffer fields in the wire format (varint, 64-bit, length-delimited, 32-bit).</summary>
    private sealed class ProtoWriter
    {
        private readonly MemoryStream buffer = new();

        public ProtoWriter Varint(int field, ulong value)
        {
            Tag(field, 0);
            Raw(value);
            return this;
        }

        public ProtoWriter Double(int field, double value)
        {
            Tag(field, 1);
            Span<byte> bytes = stackalloc byte[8];
            BinaryPrimitives.WriteDoubleLittleEndian(bytes, value);
            buffer.Write(bytes);
            return this;
        }

        public ProtoWriter Float(int field, float value)
        {
            Tag(field, 5);
            Span<byte> bytes = stackalloc byte[4];
            BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
            buffer.Write(bytes);
            return this;
        }

        public ProtoWriter Bytes(int field, ReadOnlySpan<byte> value)
        {
            Tag(field, 2);
            Raw((ulong)value.Length);
            buffer.Write(value);
            return this;
        }

        public ProtoWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public ProtoWriter Message(int field, Action<ProtoWriter> fields)
        {
            var inner = new ProtoWriter();
            fields(inner);
            return Bytes(field, inner.ToArray());
        }

        public byte[] ToArray() => buffer.ToArray();

        private void Tag(int field, int wireType) => Raw((ulong)(field << 3 | wireType));

        private void Raw(ulong value)
        {
            for (; value >= 0x80; value >>= 7) buffer.WriteByte((byte)(value | 0x80));
            buffer.WriteByte((byte)value);
        }
    }
}
