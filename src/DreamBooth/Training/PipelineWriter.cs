namespace DreamBooth.Training;

using System.Text.Json.Nodes;
using DreamBooth.IO;
using DreamBooth.Pipelines;
using DreamBooth.Schedulers;
using static TorchSharp.torch;

/// <summary>Saves a (fine-tuned) pipeline as a diffusers folder that diffusers' from_pretrained and our loader both read.</summary>
public static class PipelineWriter
{
    public static string Write(StableDiffusionPipeline pipe, string outputDir)
    {
        Directory.CreateDirectory(outputDir);
        var configs = pipe.ConfigFolder;
        WriteModel(Path.Combine(outputDir, "unet"), "diffusion_pytorch_model.safetensors", pipe.Unet, Path.Combine(configs, "unet", "config.json"));
        WriteModel(Path.Combine(outputDir, "vae"), "diffusion_pytorch_model.safetensors", pipe.Vae, Path.Combine(configs, "vae", "config.json"));
        WriteModel(Path.Combine(outputDir, "text_encoder"), "model.safetensors", pipe.TextEncoder, Path.Combine(configs, "text_encoder", "config.json"));
        CopyFolder(Path.Combine(configs, "tokenizer"), Path.Combine(outputDir, "tokenizer"));
        // As the script's save_pretrained: the scheduler re-saved with every key resolved (e.g. timestep_spacing), so a
        // later scheduler swap on this folder behaves as on the script's.
        Directory.CreateDirectory(Path.Combine(outputDir, "scheduler"));
        using (var scheduler = SchedulerRegistry.FromConfig(pipe.SchedulerConfig))
            AtomicFile.WriteAllText(Path.Combine(outputDir, "scheduler", "scheduler_config.json"), scheduler.Config.ToSavedJson());
        if (pipe.TextEncoder2 is { } te2)
        {
            WriteModel(Path.Combine(outputDir, "text_encoder_2"), "model.safetensors", te2, Path.Combine(configs, "text_encoder_2", "config.json"));
            CopyFolder(Path.Combine(configs, "tokenizer_2"), Path.Combine(outputDir, "tokenizer_2"));
        }
        var index = Path.Combine(configs, "model_index.json");
        var model = File.Exists(index) ? JsonNode.Parse(File.ReadAllText(index))!.AsObject() : DefaultIndex();
        AtomicFile.WriteAllText(Path.Combine(outputDir, "model_index.json"), model.ToJsonString(JsonText.Indented));
        return Path.Combine(outputDir, "unet", "diffusion_pytorch_model.safetensors");
    }

    private static void WriteModel(string dir, string fileName, nn.Module module, string configPath)
    {
        Directory.CreateDirectory(dir);
        var state = module.state_dict();
        SafeTensorsWriter.Write(Path.Combine(dir, fileName), state, new Dictionary<string, string> { ["format"] = "pt" });
        File.Copy(configPath, Path.Combine(dir, "config.json"), overwrite: true);
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)), overwrite: true);
    }

    /// <summary>model_index.json of a StableDiffusionPipeline without safety checker (diffusers 0.27's layout).</summary>
    public static JsonObject DefaultIndex() => new()
    {
        ["_class_name"] = "StableDiffusionPipeline",
        ["_diffusers_version"] = "0.27.2",
        ["feature_extractor"] = new JsonArray(null, null),
        ["requires_safety_checker"] = false,
        ["safety_checker"] = new JsonArray(null, null),
        ["scheduler"] = new JsonArray("diffusers", "PNDMScheduler"),
        ["text_encoder"] = new JsonArray("transformers", "CLIPTextModel"),
        ["tokenizer"] = new JsonArray("transformers", "CLIPTokenizer"),
        ["unet"] = new JsonArray("diffusers", "UNet2DConditionModel"),
        ["vae"] = new JsonArray("diffusers", "AutoencoderKL"),
    };
}
