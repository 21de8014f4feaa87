namespace DreamBooth.Tests.Loaders;

using System.Text.RegularExpressions;
using DreamBooth.IO;
using DreamBooth.Loaders;
using DreamBooth.Loading;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unets;
using DreamBooth.Pipelines;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>
/// sdxl-tiny written as an SDXL single file (A1111/sgm naming) the way diffusers'
/// scripts/convert_diffusers_to_original_sdxl.py writes one, then loaded and run: the same image as the folder.
/// </summary>
public sealed class SdxlSingleFileTests(ITestOutputHelper output) : IDisposable
{
    private const string Folder = "sdxl-tiny";
    private readonly string dir = Directory.CreateTempSubdirectory("sdxl-single-file").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Fact]
    public void SdxlSingleFile_GeneratesTheFolderImage_AndUsesEveryTensor()
    {
        var path = SdxlCheckpointWriter.Write(Fixtures.Path(Folder), Path.Combine(dir, "sdxl-tiny.safetensors"));
        var options = new PipelineLoadOptions { ModelConfigDir = Fixtures.Path(Folder) };
        using var single = PipelineLoader.Load(path, options);
        using var folder = PipelineLoader.Load(Fixtures.Path(Folder));
        Assert.True(single.IsXL);

        // Every stored tensor feeds some model tensor (nothing is silently dropped), and every model tensor is loaded.
        using (var file = TensorSource.Open(path))
        {
            var used = new HashSet<string>(StringComparer.Ordinal);
            void Use(TensorSource view, nn.Module model)
            {
                Assert.Equal(model.state_dict().Keys.Order(StringComparer.Ordinal), view.Keys.Order(StringComparer.Ordinal));
                used.UnionWith(view.Keys.Select(k => view[k].FileKey));
            }
            Use(SingleFileCheckpoint.Unet(file, single.Unet.state_dict().Keys, SingleFileCheckpoint.Layout(single.Unet.Config)), single.Unet);
            Use(SingleFileCheckpoint.Vae(file, single.Vae.state_dict().Keys, single.Vae.Config.UpBlockTypes.Count), single.Vae);
            Use(SingleFileCheckpoint.TextEncoder(file, single.TextEncoder.state_dict().Keys), single.TextEncoder);
            Use(SingleFileCheckpoint.TextEncoder2(file, single.TextEncoder2!.state_dict().Keys), single.TextEncoder2);
            Assert.Empty(file.Keys.Except(used));
            output.WriteLine($"{file.Count} tensors in the single file, all used");
        }

        foreach (var negative in new[] { null, "blurry" })
        {
            var request = new GenerationRequest { Prompt = "a photo of sks dog", NegativePrompt = negative, Steps = 3, Seed = 7, GuidanceScale = 5 };
            using var expected = folder.Generate(request);
            using var actual = single.Generate(request);
            double diff = (expected.Images - actual.Images).abs().max().item<float>();
            output.WriteLine($"negative {negative ?? "(none)"}: max |single − folder| = {diff}, image std {expected.Images.std().item<float>():F3}");
            Assert.Equal(0.0, diff);
        }
    }

    [Fact]
    public void SdxlSingleFile_WithSd15Configs_SaysTheConfigsDoNotMatch()
    {
        var path = SdxlCheckpointWriter.Write(Fixtures.Path(Folder), Path.Combine(dir, "x.safetensors"));
        var e = Assert.Throws<DreamBoothException>(() => PipelineLoader.Load(path, new PipelineLoadOptions { ModelConfigDir = Fixtures.Path("sd15-tiny") }));
        output.WriteLine(e.Message);
        Assert.Contains("SDXL checkpoint", e.Message);
        Assert.Contains("--model-config", e.Message);
    }

    [Fact]
    public void SdxlSingleFile_WithoutOpenClipEncoder_RefusedAsNotBase()
    {
        var path = SdxlCheckpointWriter.Write(Fixtures.Path(Folder), Path.Combine(dir, "refiner-like.safetensors"));
        using (var f = TensorSource.Open(path))
        {
            var kept = f.Keys.Where(k => !k.StartsWith("conditioner.embedders.1.", StringComparison.Ordinal)).ToDictionary(k => k, f.Read);
            f.Dispose();
            SafeTensorsWriter.Write(path, kept);
        }
        var e = Assert.Throws<DreamBoothException>(() => PipelineLoader.Load(path, new PipelineLoadOptions { ModelConfigDir = Fixtures.Path(Folder) }));
        output.WriteLine(e.Message);
        Assert.Contains("conditioner.embedders.1.model.", e.Message);
    }

    /// <summary>Full-size SDXL base key lists (fixture manifests): every UNet and OpenCLIP name equals the converter's.</summary>
    [Fact]
    public void LdmKeyMap_FullSdxl_EqualsDiffusersSdxlConverterForEveryKey()
    {
        static IEnumerable<string> Keys(string component)
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Fixtures.Path("manifests", "sdxl", component, "manifest.json")));
            return [.. doc.RootElement.GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("name").GetString()!)];
        }
        var unet = Keys("unet").ToList();
        var layout = SingleFileCheckpoint.Layout(UNet2DConditionConfig.Load(Fixtures.Path("manifests", "sdxl", "unet", "config.json")));
        Assert.Equal(1680, unet.Count);
        Assert.All(unet, k => Assert.Equal(SdxlCheckpointWriter.UnetName(k), LdmKeyMap.UnetToLdm(k, layout)));

        var text = Keys("text_encoder_2").ToList();
        Assert.Equal(517, text.Count);
        var fused = new HashSet<string>(StringComparer.Ordinal);
        foreach (var k in text)
        {
            var (ldm, qkv, transposed) = LdmKeyMap.OpenClipToLdm(k);
            Assert.Equal(SdxlCheckpointWriter.OpenClipName(k), ldm);
            Assert.Equal(k == "text_projection.weight", transposed);
            Assert.Equal(k.Contains("_proj.", StringComparison.Ordinal) && !k.Contains("out_proj", StringComparison.Ordinal) ? "qkv".IndexOf(k[k.IndexOf("_proj.", StringComparison.Ordinal) - 1], StringComparison.Ordinal) : -1, qkv);
            fused.Add(ldm);
        }
        Assert.Equal(517 - 32 * 2 * 2, fused.Count);   // 32 layers: q/k/v weights and biases become one in_proj each
        output.WriteLine($"SDXL base: {unet.Count} UNet keys and {text.Count} OpenCLIP keys named as diffusers' converter names them");
    }

    [Fact]
    public void SdxlDefaults_AreSdxlBaseConfigsAndTokenizers()
    {
        var defaults = ModelDefaults.SdxlFolder();
        var unet = UNet2DConditionConfig.Load(Path.Combine(defaults, "unet", "config.json"));
        Assert.All(unet.CrossAttentionDim, d => Assert.Equal(2048, d));
        Assert.Equal([1, 2, 10], unet.TransformerLayersPerBlock.ToArray());
        Assert.True(CLIPTextConfig.Load(Path.Combine(defaults, "text_encoder_2", "config.json")).HasProjection);
        Assert.False(CLIPTextConfig.Load(Path.Combine(defaults, "text_encoder", "config.json")).HasProjection);
        // The extracted tokenizers tokenise as the fixture's SDXL tokenizers do ('!' is tokenizer_2's pad token).
        foreach (var name in new[] { "tokenizer", "tokenizer_2" })
        {
            var expected = CLIPTokenizer.FromFolder(Fixtures.Path(Folder, name)).Encode("hello world!! a photo of sks dog");
            var actual = CLIPTokenizer.FromFolder(Path.Combine(defaults, name)).Encode("hello world!! a photo of sks dog");
            Assert.Equal(expected.InputIds, actual.InputIds);
        }
        Assert.NotEqual(CLIPTokenizer.FromFolder(Path.Combine(defaults, "tokenizer")).Encode("hi!").InputIds,
                        CLIPTokenizer.FromFolder(Path.Combine(defaults, "tokenizer_2")).Encode("hi!").InputIds);
    }
}

/// <summary>
/// Writes a diffusers SDXL folder as one LDM/sgm single file with the renaming tables of diffusers'
/// scripts/convert_diffusers_to_original_sdxl.py (kept independent of LdmKeyMap so that the loader is checked against
/// the converter, not against itself). The VAE loop is generalised from the script's 4 blocks to the folder's count.
/// </summary>
internal static partial class SdxlCheckpointWriter
{
    public static string Write(string folder, string path)
    {
        var all = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, t) in Unet(Read(folder, "unet", "diffusion_pytorch_model"))) all["model.diffusion_model." + k] = t;
        var vaeBlocks = AutoencoderKLConfigBlocks(folder);
        foreach (var (k, t) in Vae(Read(folder, "vae", "diffusion_pytorch_model"), vaeBlocks)) all["first_stage_model." + k] = t;
        foreach (var (k, t) in Read(folder, "text_encoder", "model")) all["conditioner.embedders.0.transformer." + k] = t;
        foreach (var (k, t) in OpenClip(Read(folder, "text_encoder_2", "model"))) all["conditioner.embedders.1.model." + k] = t;
        SafeTensorsWriter.Write(path, all);
        return path;
    }

    private static Dictionary<string, Tensor> Read(string folder, string component, string baseName)
    {
        using var source = TensorSource.Open(WeightFiles.Find(Path.Combine(folder, component), baseName));
        return source.Keys.ToDictionary(k => k, source.Read);
    }

    private static int AutoencoderKLConfigBlocks(string folder) =>
        DreamBooth.Models.Autoencoders.AutoencoderKLConfig.Load(Path.Combine(folder, "vae", "config.json")).UpBlockTypes.Count;

    private static Dictionary<string, Tensor> Unet(Dictionary<string, Tensor> sd) => sd.ToDictionary(kv => UnetName(kv.Key), kv => kv.Value);

    /// <summary>The script's LDM name of a diffusers SDXL UNet key ((stable-diffusion, diffusers) pairs, applied in its order).</summary>
    public static string UnetName(string hf)
    {
        (string Sd, string Hf)[] whole =
        [
            ("time_embed.0.weight", "time_embedding.linear_1.weight"), ("time_embed.0.bias", "time_embedding.linear_1.bias"),
            ("time_embed.2.weight", "time_embedding.linear_2.weight"), ("time_embed.2.bias", "time_embedding.linear_2.bias"),
            ("input_blocks.0.0.weight", "conv_in.weight"), ("input_blocks.0.0.bias", "conv_in.bias"),
            ("out.0.weight", "conv_norm_out.weight"), ("out.0.bias", "conv_norm_out.bias"),
            ("out.2.weight", "conv_out.weight"), ("out.2.bias", "conv_out.bias"),
            ("label_emb.0.0.weight", "add_embedding.linear_1.weight"), ("label_emb.0.0.bias", "add_embedding.linear_1.bias"),
            ("label_emb.0.2.weight", "add_embedding.linear_2.weight"), ("label_emb.0.2.bias", "add_embedding.linear_2.bias"),
        ];
        (string Sd, string Hf)[] resnet =
        [
            ("in_layers.0", "norm1"), ("in_layers.2", "conv1"), ("out_layers.0", "norm2"), ("out_layers.3", "conv2"),
            ("emb_layers.1", "time_emb_proj"), ("skip_connection", "conv_shortcut"),
        ];
        var layer = new List<(string Sd, string Hf)>();
        for (int i = 0; i < 3; i++)
        {
            for (int j = 0; j < 2; j++)
            {
                layer.Add(($"input_blocks.{3 * i + j + 1}.0.", $"down_blocks.{i}.resnets.{j}."));
                if (i > 0) layer.Add(($"input_blocks.{3 * i + j + 1}.1.", $"down_blocks.{i}.attentions.{j}."));
            }
            for (int j = 0; j < 4; j++)
            {
                layer.Add(($"output_blocks.{3 * i + j}.0.", $"up_blocks.{i}.resnets.{j}."));
                if (i < 2) layer.Add(($"output_blocks.{3 * i + j}.1.", $"up_blocks.{i}.attentions.{j}."));
            }
            layer.Add(($"input_blocks.{3 * (i + 1)}.0.op.", $"down_blocks.{i}.downsamplers.0.conv."));
            layer.Add(($"output_blocks.{3 * i + 2}.{(i == 0 ? 1 : 2)}.", $"up_blocks.{i}.upsamplers.0."));
        }
        layer.Add(("output_blocks.2.2.conv.", "output_blocks.2.1.conv."));
        layer.Add(("middle_block.1.", "mid_block.attentions.0."));
        for (int j = 0; j < 2; j++) layer.Add(($"middle_block.{2 * j}.", $"mid_block.resnets.{j}."));

        var v = whole.FirstOrDefault(p => p.Hf == hf).Sd ?? hf;
        if (hf.Contains("resnets", StringComparison.Ordinal))
            foreach (var (s, h) in resnet) v = v.Replace(h, s, StringComparison.Ordinal);
        foreach (var (s, h) in layer) v = v.Replace(h, s, StringComparison.Ordinal);
        return v;
    }

    private static Dictionary<string, Tensor> Vae(Dictionary<string, Tensor> sd, int n)
    {
        var map = new List<(string Sd, string Hf)> { ("nin_shortcut", "conv_shortcut"), ("norm_out", "conv_norm_out"), ("mid.attn_1.", "mid_block.attentions.0.") };
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < 2; j++) map.Add(($"encoder.down.{i}.block.{j}.", $"encoder.down_blocks.{i}.resnets.{j}."));
            if (i < n - 1)
            {
                map.Add(($"down.{i}.downsample.", $"down_blocks.{i}.downsamplers.0."));
                map.Add(($"up.{n - 1 - i}.upsample.", $"up_blocks.{i}.upsamplers.0."));
            }
            for (int j = 0; j < 3; j++) map.Add(($"decoder.up.{n - 1 - i}.block.{j}.", $"decoder.up_blocks.{i}.resnets.{j}."));
        }
        for (int i = 0; i < 2; i++) map.Add(($"mid.block_{i + 1}.", $"mid_block.resnets.{i}."));
        (string Sd, string Hf)[] attention = [("norm.", "group_norm."), ("q.", "to_q."), ("k.", "to_k."), ("v.", "to_v."), ("proj_out.", "to_out.0.")];

        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (hf, t) in sd)
        {
            var v = hf;
            foreach (var (s, h) in map) v = v.Replace(h, s, StringComparison.Ordinal);
            if (hf.Contains("attentions", StringComparison.Ordinal))
                foreach (var (s, h) in attention) v = v.Replace(h, s, StringComparison.Ordinal);
            bool linearAsConv = new[] { "q", "k", "v", "proj_out" }.Any(w => v.Contains($"mid.attn_1.{w}.weight", StringComparison.Ordinal));
            result.Add(v, linearAsConv && t.dim() != 1 ? t.reshape(t.shape[0], t.shape[1], 1, 1) : t);
        }
        return result;
    }

    private static readonly (string Sd, string Hf)[] TextEncoderNames =
    [
        ("transformer.resblocks.", "text_model.encoder.layers."), ("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"),
        (".c_fc.", ".fc1."), (".c_proj.", ".fc2."), (".attn", ".self_attn"), ("ln_final.", "text_model.final_layer_norm."),
        ("token_embedding.weight", "text_model.embeddings.token_embedding.weight"),
        ("positional_embedding", "text_model.embeddings.position_embedding.weight"),
    ];

    private static readonly Regex TextEncoderPattern = new(string.Join("|", TextEncoderNames.Select(p => Regex.Escape(p.Hf))));

    /// <summary>The script's OpenCLIP name of a CLIPTextModelWithProjection key (q/k/v: their fused in_proj).</summary>
    public static string OpenClipName(string key)
    {
        var m = QkvKey().Match(key);
        return m.Success ? Relabel(m.Groups[1].Value) + ".in_proj_" + m.Groups[3].Value
             : key == "text_projection.weight" ? "text_projection" : Relabel(key);
    }

    private static string Relabel(string key) => TextEncoderPattern.Replace(key, m => TextEncoderNames.First(p => p.Hf == m.Value).Sd);

    // q/k/v concatenated (in that order) into in_proj_weight / in_proj_bias; text_projection stored transposed.
    private static Dictionary<string, Tensor> OpenClip(Dictionary<string, Tensor> sd)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var fused = new Dictionary<string, Tensor?[]>(StringComparer.Ordinal);
        foreach (var (k, t) in sd)
        {
            var m = QkvKey().Match(k);
            if (m.Success)
            {
                var pre = $"{m.Groups[1].Value}|{m.Groups[3].Value}";
                if (!fused.TryGetValue(pre, out var parts)) fused[pre] = parts = new Tensor?[3];
                parts["qkv".IndexOf(m.Groups[2].Value[0], StringComparison.Ordinal)] = t;
                continue;
            }
            result.Add(Relabel(k), t);
        }
        foreach (var (pre, parts) in fused)
        {
            var (prefix, kind) = (pre.Split('|')[0], pre.Split('|')[1]);
            result.Add(Relabel(prefix) + ".in_proj_" + kind, cat([.. parts.Select(p => p!)], 0));
        }
        var projection = result["text_projection.weight"];
        result.Remove("text_projection.weight");
        result.Add("text_projection", projection.t().contiguous());
        return result;
    }

    [GeneratedRegex(@"^(.+\.self_attn)\.(q|k|v)_proj\.(weight|bias)$")]
    private static partial Regex QkvKey();
}
