namespace DreamBooth.ToyWorld;

using System.Text.Json.Nodes;
using DreamBooth.IO;
using DreamBooth.Pipelines;
using static TorchSharp.torch;

/// <summary>Writes the toy world's models: the base model as a diffusers folder, the toy CLIP as a transformers CLIPModel folder.</summary>
internal static class ToyModelWriter
{
    public static void Write(string dir, ToyModelConfig config, double scalingFactor, nn.Module textEncoder, nn.Module unet, nn.Module vae)
    {
        Directory.CreateDirectory(dir);
        WriteJson(Path.Combine(dir, "model_index.json"), ToyModelConfig.ModelIndexJson());
        WriteModel(Path.Combine(dir, "text_encoder"), "model.safetensors", textEncoder, config.TextEncoderJson());
        WriteModel(Path.Combine(dir, "unet"), "diffusion_pytorch_model.safetensors", unet, config.UnetJson());
        WriteModel(Path.Combine(dir, "vae"), "diffusion_pytorch_model.safetensors", vae, config.VaeJson(scalingFactor));
        Directory.CreateDirectory(Path.Combine(dir, "scheduler"));
        WriteJson(Path.Combine(dir, "scheduler", "scheduler_config.json"), ToyModelConfig.SchedulerJson());
        CopyTokenizer(Path.Combine(dir, "tokenizer"));
    }

    /// <summary>
    /// Writes the toy CLIP as a transformers CLIPModel folder: config.json, model.safetensors (transformers' key names), preprocessor_config.json and SD 1.5's tokenizer files beside them, as openai/clip-vit-base-patch32 ships.
    /// </summary>
    public static void WriteClip(string dir, ToyClipConfig config, nn.Module clip)
    {
        Directory.CreateDirectory(dir);
        WriteHalf(Path.Combine(dir, "model.safetensors"), clip);
        WriteJson(Path.Combine(dir, "config.json"), config.ConfigJson());
        WriteJson(Path.Combine(dir, "preprocessor_config.json"), config.PreprocessorJson());
        CopyTokenizer(dir);
    }

    /// <summary>The real CLIP tokenizer of SD 1.5 (embedded in the library).</summary>
    public static string TokenizerFolder() => Path.Combine(ModelDefaults.Sd15Folder(), "tokenizer");

    private static void CopyTokenizer(string dir)
    {
        Directory.CreateDirectory(dir);
        foreach (var file in Directory.GetFiles(TokenizerFolder()))
            File.Copy(file, Path.Combine(dir, Path.GetFileName(file)), overwrite: true);
    }

    private static void WriteModel(string dir, string fileName, nn.Module module, JsonObject config)
    {
        Directory.CreateDirectory(dir);
        WriteHalf(Path.Combine(dir, fileName), module);
        WriteJson(Path.Combine(dir, "config.json"), config);
    }

    // Float16 on disk, as SD's own fp16 files: half the repository space (the text encoder's 49 408-token embedding
    // dominates), and loaders cast to the dtype they run in. Training keeps float32 in memory.
    private static void WriteHalf(string path, nn.Module module)
    {
        using var scope = NewDisposeScope();
        var half = module.state_dict().Select(kv => KeyValuePair.Create(kv.Key, kv.Value.detach().to(ScalarType.Float16))).ToList();
        SafeTensorsWriter.Write(path, half, new Dictionary<string, string> { ["format"] = "pt" });
    }

    private static void WriteJson(string path, JsonObject json) => AtomicFile.WriteAllText(path, json.ToJsonString(JsonText.Indented) + "\n");
}
