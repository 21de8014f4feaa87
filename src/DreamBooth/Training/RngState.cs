namespace DreamBooth.Training;

using System.Text.Json;
using DreamBooth.IO;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>A snapshot of the random generators a training run draws from, for exact resume: torch's default CPU
/// generator (torch.get_rng_state: mt19937 state plus the cached normal sample), optional named torch generators
/// (e.g. the one drawing noise and timesteps) and the data-order <see cref="ResumableRandom"/>.</summary>
public sealed record RngState(byte[] TorchCpu, IReadOnlyDictionary<string, byte[]> Generators, ulong[]? DataOrder)
{
    /// <summary>Captures the default CPU generator, the given generators and the data-order RNG.</summary>
    public static RngState Capture(ResumableRandom? dataOrder = null, IReadOnlyDictionary<string, Generator>? generators = null)
    {
        using var state = get_rng_state();
        var named = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (name, g) in generators ?? new Dictionary<string, Generator>())
        {
            using var s = g.get_state();
            named[name] = Bytes(s);
        }
        return new RngState(Bytes(state), named, dataOrder?.GetState());
    }

    /// <summary>Puts every captured generator back; each generator passed must have been captured under its name.</summary>
    public void Restore(ResumableRandom? dataOrder = null, IReadOnlyDictionary<string, Generator>? generators = null)
    {
        using (var state = FromBytes(TorchCpu)) set_rng_state(state);
        foreach (var (name, g) in generators ?? new Dictionary<string, Generator>())
        {
            if (!Generators.TryGetValue(name, out var bytes))
                throw new DreamBoothException($"The saved RNG state has no generator '{name}' (saved: {string.Join(", ", Generators.Keys)}).");
            using var s = FromBytes(bytes);
            g.set_state(s);
        }
        if (dataOrder is not null)
            dataOrder.SetState(DataOrder ?? throw new DreamBoothException("The saved RNG state has no data-order state."));
    }

    /// <summary>Writes the snapshot as JSON (atomically).</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this));

    public static RngState Load(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<RngState>(File.ReadAllText(path))
                ?? throw new DreamBoothException($"{path}: empty RNG state.");
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

    private static byte[] Bytes(Tensor state) => state.contiguous().data<byte>().ToArray();

    private static Tensor FromBytes(byte[] bytes) => tensor(bytes, ScalarType.Byte);
}
