namespace DreamBooth.Tests.IO;

using System.Text;

/// <summary>One value of a TensorBoard event: a scalar, an image, or neither (version and session records).</summary>
internal sealed record TfEvent(double WallTime, long Step, string? FileVersion, int? SessionStatus, string? Tag, float? Scalar, TfImage? Image);

internal sealed record TfImage(int Height, int Width, int Colorspace, byte[] Encoded);

/// <summary>
/// Reads TensorBoard event files independently of our writer: TFRecord framing with both checksums verified (CRC32C
/// computed bit by bit here) and a generic protocol-buffer decoder for the Event fields (tensorflow/core/util/event.proto,
/// summary.proto).
/// </summary>
internal static class TfEventReader
{
    public static IReadOnlyList<TfEvent> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var events = new List<TfEvent>();
        int at = 0;
        while (at < bytes.Length)
        {
            if (bytes.Length - at < 12) throw new InvalidDataException($"{path}: truncated record header at {at}.");
            var lengthBytes = bytes.AsSpan(at, 8);
            ulong length = BitConverter.ToUInt64(lengthBytes);
            if (BitConverter.ToUInt32(bytes, at + 8) != Masked(Crc32C(lengthBytes))) throw new InvalidDataException($"{path}: length checksum wrong at {at}.");
            at += 12;
            if ((ulong)(bytes.Length - at) < length + 4) throw new InvalidDataException($"{path}: truncated record at {at}.");
            var data = bytes.AsSpan(at, (int)length);
            if (BitConverter.ToUInt32(bytes, at + (int)length) != Masked(Crc32C(data))) throw new InvalidDataException($"{path}: data checksum wrong at {at}.");
            events.AddRange(Event(data.ToArray()));
            at += (int)length + 4;
        }
        return events;
    }

    /// <summary>CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one bit at a time.</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
        }
        return crc ^ 0xFFFFFFFF;
    }

    private static uint Masked(uint crc) => unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8);

    // An Event with a summary yields one TfEvent per summary value.
    private static IEnumerable<TfEvent> Event(byte[] data)
    {
        double wallTime = 0;
        long step = 0;
        string? version = null;
        int? status = null;
        var values = new List<(string? Tag, float? Scalar, TfImage? Image)>();
        foreach (var (field, value) in Fields(data))
            switch (field)
            {
                case 1: wallTime = BitConverter.Int64BitsToDouble((long)(ulong)value); break;
                case 2: step = (long)(ulong)value; break;
                case 3: version = Encoding.UTF8.GetString((byte[])value); break;
                case 5:
                    foreach (var (f, v) in Fields((byte[])value))
                        if (f == 1) values.Add(SummaryValue((byte[])v));
                    break;
                case 6:
                    status = Fields((byte[])value).Where(f => f.Field == 1).Select(f => (int)(ulong)f.Value).DefaultIfEmpty(0).Single();
                    break;
            }
        if (values.Count == 0) yield return new TfEvent(wallTime, step, version, status, null, null, null);
        foreach (var (tag, scalar, image) in values) yield return new TfEvent(wallTime, step, version, status, tag, scalar, image);
    }

    private static (string? Tag, float? Scalar, TfImage? Image) SummaryValue(byte[] data)
    {
        string? tag = null;
        float? scalar = null;
        TfImage? image = null;
        foreach (var (field, value) in Fields(data))
            switch (field)
            {
                case 1: tag = Encoding.UTF8.GetString((byte[])value); break;
                case 2: scalar = BitConverter.Int32BitsToSingle((int)(uint)value); break;
                case 4:
                    int height = 0, width = 0, colorspace = 0;
                    byte[] encoded = [];
                    foreach (var (f, v) in Fields((byte[])value))
                        switch (f)
                        {
                            case 1: height = (int)(ulong)v; break;
                            case 2: width = (int)(ulong)v; break;
                            case 3: colorspace = (int)(ulong)v; break;
                            case 4: encoded = (byte[])v; break;
                        }
                    image = new TfImage(height, width, colorspace, encoded);
                    break;
            }
        return (tag, scalar, image);
    }

    // Wire format: key = field << 3 | type; 0 varint (ulong), 1 fixed64 (ulong), 2 length-delimited (byte[]), 5 fixed32 (uint).
    private static List<(int Field, object Value)> Fields(byte[] data)
    {
        var fields = new List<(int, object)>();
        int at = 0;
        ulong Varint()
        {
            ulong result = 0;
            for (int shift = 0; ; shift += 7)
            {
                byte b = data[at++];
                result |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return result;
            }
        }
        while (at < data.Length)
        {
            var key = Varint();
            int field = (int)(key >> 3);
            switch (key & 7)
            {
                case 0: fields.Add((field, Varint())); break;
                case 1: fields.Add((field, BitConverter.ToUInt64(data, at))); at += 8; break;
                case 2:
                    int length = (int)Varint();
                    fields.Add((field, data[at..(at + length)]));
                    at += length;
                    break;
                case 5: fields.Add((field, BitConverter.ToUInt32(data, at))); at += 4; break;
                default: throw new InvalidDataException($"wire type {key & 7} at {at}");
            }
        }
        return fields;
    }
}
