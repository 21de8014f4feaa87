namespace DreamBooth.ToyWorld;

using System.Text.Json.Nodes;
using DreamBooth.IO;
using DreamBooth.Pipelines;
using static TorchSharp.torch;

/// <summary>Writes the toy base model as a diffusers folder: model_index.json, config + safetensors per component, SD 1.5's tokenizer.</summary>
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
        var tokenizer = Path.Combine(dir, "tokenizer");
        Directory.CreateDirectory(tokenizer);
        foreach (var file in Directory.GetFiles(TokenizerFolder()))
            File.Copy(file, Path.Combine(tokenizer, Path.GetFileName(file)), overwrite: true);
    }

    /// <summary>The real CLIP tokenizer of SD 1.5 (embedded in the library).</summary>
    public static string TokenizerFolder() => Path.Combine(ModelDefaults.Sd15Folder(), "tokenizer");

    private static void WriteModel(string dir, string fileName, nn.Module module, JsonObject config)
    {
        Directory.CreateDirectory(dir);
        SafeTensorsWriter.Write(Path.Combine(dir, fileName), module.state_dict(), new Dictionary<string, string> { ["format"] = "pt" });
        WriteJson(Path.Combine(dir, "config.json"), config);
    }

    private static void WriteJson(string path, JsonObject json) => AtomicFile.WriteAllText(path, json.ToJsonString(JsonText.Indented) + "\n");
}
