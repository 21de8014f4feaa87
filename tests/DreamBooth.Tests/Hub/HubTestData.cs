namespace DreamBooth.Tests.Hub;

using System.Text;
using DreamBooth.Hub;

/// <summary>Fake repos built from tests/fixtures/sd15-tiny, and throw-away cache folders.</summary>
internal static class HubTestData
{
    /// <summary>The files a text-to-image pipeline needs from sd15-tiny (what must be downloaded, nothing else).</summary>
    public static readonly string[] Sd15Needed =
    [
        "model_index.json",
        "scheduler/scheduler_config.json",
        "text_encoder/config.json", "text_encoder/model.safetensors",
        "tokenizer/merges.txt", "tokenizer/special_tokens_map.json", "tokenizer/tokenizer_config.json", "tokenizer/vocab.json",
        "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
    ];

    /// <summary>Files a real repo often carries that a safetensors-only pipeline download must leave alone.</summary>
    public static readonly string[] Decoys =
    [
        "README.md", "v1-5-pruned.ckpt", "flax_model.msgpack",
        "unet/diffusion_pytorch_model.bin", "unet/diffusion_pytorch_model.fp16.bin", "unet/diffusion_flax_model.msgpack",
        "vae/diffusion_pytorch_model.fp16.safetensors", "vae/diffusion_pytorch_model.bin",
        "text_encoder/pytorch_model.bin", "text_encoder/flax_model.msgpack", "text_encoder/model.fp16.safetensors",
        "onnx/unet/model.onnx", "safety_checker/config.json", "safety_checker/model.safetensors",
        "feature_extractor/preprocessor_config.json", "tokenizer/tokenizer.json",
    ];

    private static readonly Lazy<IReadOnlyDictionary<string, byte[]>> Sd15Files = new(() =>
        Sd15Needed.ToDictionary(f => f, f => File.ReadAllBytes(Fixtures.Path(["sd15-tiny", .. f.Split('/')]))));

    /// <summary>sd15-tiny plus <see cref="Decoys"/> (distinct small contents), optionally edited.</summary>
    public static FakeRepo Sd15Repo(string id = "org/sd15-tiny", Action<Dictionary<string, byte[]>>? edit = null)
    {
        var files = new Dictionary<string, byte[]>(Sd15Files.Value);
        foreach (var decoy in Decoys) files[decoy] = Encoding.UTF8.GetBytes($"decoy {decoy} {new string('x', 3000)}");
        edit?.Invoke(files);
        return new FakeRepo(id, files);
    }

    public static HubOptions Options(string cacheDir, FakeHub? hub = null) => new()
    {
        CacheDir = cacheDir,
        Endpoint = hub?.Endpoint ?? "http://127.0.0.1:9", // discard port: nothing listens there
        RetryDelay = TimeSpan.Zero,
        RequestTimeout = TimeSpan.FromSeconds(10),
    };
}

/// <summary>A temporary folder deleted with the test.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "dreambooth-hub-" + Guid.NewGuid().ToString("N"));

    public string Sub(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
