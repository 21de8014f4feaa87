namespace DreamBooth.Training;

using System.Text.Json;
using DreamBooth.IO;
using static TorchSharp.torch;

/// <summary>A snapshot of torch's global CPU generator (torch.get_rng_state: the mt19937 state plus the cached normal
/// samples), from which a training run draws everything, for exact resume.</summary>
public sealed record RngState(byte[] TorchCpu)
{
    public static RngState Capture()
    {
        using var state = get_rng_state();
        return new RngState(state.contiguous().data<byte>().ToArray());
    }

    public void Restore()
    {
        using var state = tensor(TorchCpu, ScalarType.Byte);
        set_rng_state(state);
    }

    /// <summary>Writes the snapshot as JSON (atomically).</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this));

    public static RngState Load(string path)
    {
        try
        {
            var state = JsonSerializer.Deserialize<RngState>(File.ReadAllText(path));
            return state?.TorchCpu is { Length: > 0 } ? state : throw new DreamBoothException($"{path}: empty RNG state.");
        }
        catch (JsonException e)
        {
            throw new DreamBoothException($"{path} is not a valid RNG state file: {e.Message}", e);
        }
        catch (IOException e)
        {
            throw new DreamBoothException($"Cannot read RNG state {path}: {e.Message}", e);
        }
    }
}
