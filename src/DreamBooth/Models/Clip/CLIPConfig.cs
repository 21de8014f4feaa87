// Mirrors transformers src/transformers/models/clip/configuration_clip.py::CLIPConfig
namespace DreamBooth.Models.Clip;

using System.Text.Json.Nodes;
using DreamBooth.Loading;

/// <summary>
/// A <c>CLIPModel</c>'s config.json: a text and a vision sub-config plus the joint embedding width. transformers saves
/// the sub-configs as diffs against their class defaults, so an omitted key takes the <see cref="CLIPTextConfig"/> /
/// <see cref="CLIPVisionConfig"/> default (not the top-level value, and not the other tower's).
/// </summary>
/// <param name="Text">The text tower (note: openai's configs carry the legacy eos_token_id 2).</param>
/// <param name="Vision">The vision tower.</param>
/// <param name="ProjectionDim">Width of the joint space (<c>text_projection</c> / <c>visual_projection</c> outputs).</param>
public sealed record CLIPConfig(CLIPTextConfig Text, CLIPVisionConfig Vision, int ProjectionDim = 512)
{
    /// <summary>Reads <c>config.json</c>; errors name the file and the sub-config key.</summary>
    public static CLIPConfig Load(string path) => From(ConfigFile.Load(path));

    public static CLIPConfig From(ConfigFile file)
    {
        var text = CLIPTextConfig.From(SubConfig(file, "text_config"));
        var vision = CLIPVisionConfig.From(SubConfig(file, "vision_config"));
        var projectionDim = file.Optional("projection_dim", 512);
        if (projectionDim <= 0) throw new DreamBoothException($"{file.Path}: 'projection_dim' must be positive, not {projectionDim}.");
        return new CLIPConfig(text, vision, projectionDim);
    }

    // transformers (4.x) still reads the pre-4.17 "<name>_dict" copies and lets their values win over "<name>".
    private static ConfigFile SubConfig(ConfigFile file, string key)
    {
        var merged = new JsonObject();
        foreach (var name in new[] { key, key + "_dict" })
        {
            if (!file.Has(name)) continue;
            if (file.Json[name] is not JsonObject obj) throw new DreamBoothException($"{file.Path}: '{name}' must be an object.");
            foreach (var (k, v) in obj) merged[k] = v?.DeepClone();
        }
        return new ConfigFile($"{file.Path} ({key})", merged);
    }
}
