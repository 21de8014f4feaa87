namespace DreamBooth.Tests.IO;

using System.Text;
using DreamBooth.IO;

/// <summary>Event files as TensorBoard reads them, checked with an independent reader (<see cref="TfEventReader"/>).</summary>
public sealed class EventFileWriterTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("events").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void Crc32C_MatchesTheStandardCheckValue()
    {
        // CRC-32C of "123456789" is 0xE3069283 (RFC 3720, appendix B.4); the masked form is TFRecord's.
        var check = Encoding.ASCII.GetBytes("123456789");
        Assert.Equal(0xE3069283u, TfEventReader.Crc32C(check));
        Assert.Equal(unchecked(((0xE3069283u >> 15) | (0xE3069283u << 17)) + 0xa282ead8u), EventFileWriter.MaskedCrc(check));
    }

    [Fact]
    public void Write_ScalarsImageAndSessionStart_ReadBackWithValidChecksums()
    {
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0 - 1;
        byte[] png = [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3];
        string path;
        using (var writer = new EventFileWriter(Path.Combine(dir, "run")))
        {
            path = writer.Path;
            writer.SessionStart(5);
            writer.Scalar("loss", 5, 0.123456789);
            writer.Scalar("lr", 300, 1e-4);
            writer.Image("validation", 6, png, width: 64, height: 32);
        }
        Assert.Matches(@"^events\.out\.tfevents\.\d{10}\.", Path.GetFileName(path));

        var events = TfEventReader.Read(path);
        Assert.Equal(5, events.Count);
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        Assert.Equal((5L, 1), (events[1].Step, events[1].SessionStatus!.Value));
        Assert.Equal(("loss", 5L, 0.123456789f), (events[2].Tag, events[2].Step, events[2].Scalar!.Value));
        Assert.Equal(("lr", 300L, 1e-4f), (events[3].Tag, events[3].Step, events[3].Scalar!.Value));
        var image = events[4].Image!;
        Assert.Equal(("validation", 6L), (events[4].Tag, events[4].Step));
        Assert.Equal((32, 64, 3), (image.Height, image.Width, image.Colorspace));
        Assert.Equal(png, image.Encoded);
        Assert.All(events, e => Assert.InRange(e.WallTime, before, before + 600));   // Unix seconds
    }

    [Fact]
    public void Read_ADamagedByte_FailsTheChecksum()
    {
        string path;
        using (var writer = new EventFileWriter(dir))
        {
            path = writer.Path;
            writer.Scalar("loss", 1, 2.5);
        }
        var bytes = File.ReadAllBytes(path);
        bytes[^6] ^= 1;                                              // inside the last record's data
        File.WriteAllBytes(path, bytes);
        Assert.Throws<InvalidDataException>(() => TfEventReader.Read(path));
    }
}
