namespace DreamBooth.Tests.Evaluation;

using DreamBooth.Imaging;
using DreamBooth.IO;
using DreamBooth.Loading;
using DreamBooth.Models;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Vit;
using DreamBooth.Torch;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

/// <summary>CLIP's and ViT's image processors against transformers' uint8 intermediates and pixel_values.</summary>
public sealed class EvalImageProcessorTests(ITestOutputHelper output)
{
    [Fact]
    public void Configs_LegacyFiles_ReadAsTransformersReadsThem()
    {
        var clip = CLIPImageProcessor.FromPretrained(EvalFixtures.ClipDir).Config;
        Assert.Equal(new ImageSizeSpec(ShortestEdge: 224), clip.Size);
        Assert.Equal(new ImageSizeSpec(Height: 224, Width: 224), clip.CropSize);
        Assert.Equal((PilFilter.Bicubic, true, true, 1.0 / 255), (clip.Resample, clip.DoCenterCrop, clip.DoRescale, clip.RescaleFactor));
        Assert.Equal([0.48145466, 0.4578275, 0.40821073], clip.ImageMean);

        var vit = ViTImageProcessor.FromPretrained(EvalFixtures.DinoDir).Config;
        Assert.Equal(new ImageSizeSpec(Height: 224, Width: 224), vit.Size);
        Assert.Equal((PilFilter.Bilinear, false), (vit.Resample, vit.DoCenterCrop));
        Assert.Equal([0.229, 0.224, 0.225], vit.ImageStd);
    }

    [Fact]
    public void Config_CurrentDictForm_ParsesShortestEdgeAndCrop()
    {
        var file = ConfigFile.Parse("p.json", """{"size": {"shortest_edge": 336}, "crop_size": {"height": 320, "width": 300}, "resample": 2, "do_rescale": false}""");
        var config = ImageProcessorConfig.From(file, CLIPImageProcessor.Defaults, defaultToSquare: false);
        Assert.Equal(new ImageSizeSpec(ShortestEdge: 336), config.Size);
        Assert.Equal(new ImageSizeSpec(Height: 320, Width: 300), config.CropSize);
        Assert.Equal((PilFilter.Bilinear, false), (config.Resample, config.DoRescale));
        var bad = ConfigFile.Parse("p.json", """{"resample": 1}""");
        Assert.Contains("resample", Assert.Throws<DreamBoothException>(() => ImageProcessorConfig.From(bad, CLIPImageProcessor.Defaults, false)).Message);
    }

    [Theory]
    [InlineData(301, 157, 429, 224)]   // landscape: long side int(224 * 301 / 157) = 429 (429.45 truncated)
    [InlineData(157, 301, 224, 429)]
    [InlineData(780, 780, 224, 224)]
    [InlineData(100, 299, 224, 669)]   // 669.76 truncated, not rounded
    public void OutputSize_ShortestEdge_TruncatesLongSide(int w, int h, int expectedW, int expectedH) =>
        Assert.Equal((expectedW, expectedH), BaseImageProcessor.OutputSize(w, h, new ImageSizeSpec(ShortestEdge: 224)));

    [Fact]
    public void Resize_SyntheticPng_EqualsPillowBytes()
    {
        // A PNG decodes identically everywhere, so here the resize (PIL bicubic / bilinear) and the crop must be exact.
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var image = ImageLoader.Load(EvalFixtures.ImagePath("synthetic"));
        using var clipRef = SafeTensorsFile.Open(Path.Combine(EvalFixtures.ClipDir, "reference.safetensors"));
        using var dinoRef = SafeTensorsFile.Open(Path.Combine(EvalFixtures.DinoDir, "reference.safetensors"));
        var clip = CLIPImageProcessor.FromPretrained(EvalFixtures.ClipDir).ResizeAndCrop(image);
        var dino = ViTImageProcessor.FromPretrained(EvalFixtures.DinoDir).ResizeAndCrop(image);
        Assert.Equal(clipRef.Read("clip.image.cropped_uint8")[3].flatten().data<byte>().ToArray(), clip.Pixels);
        Assert.Equal(dinoRef.Read("dino.image.resized_uint8")[3].flatten().data<byte>().ToArray(), dino.Pixels);
    }

    [Fact]
    public void ToPixelValues_ReferenceUint8_EqualsTransformersPixelValues()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        foreach (var (dir, prefix, uint8Name, processor) in new (string, string, string, BaseImageProcessor)[]
                 {
                     (EvalFixtures.ClipDir, "clip", "clip.image.cropped_uint8", CLIPImageProcessor.FromPretrained(EvalFixtures.ClipDir)),
                     (EvalFixtures.DinoDir, "dino", "dino.image.resized_uint8", ViTImageProcessor.FromPretrained(EvalFixtures.DinoDir)),
                 })
        {
            using var reference = SafeTensorsFile.Open(Path.Combine(dir, "reference.safetensors"));
            var u8 = reference.Read(uint8Name);
            var expected = reference.Read($"{prefix}.image.pixel_values");
            for (var i = 0; i < u8.shape[0]; i++)
            {
                var image = new RgbImage(224, 224, u8[i].flatten().data<byte>().ToArray());
                var actual = tensor(processor.ToPixelValues(image), [3, 224, 224]);
                var error = (actual - expected[i]).abs().max().item<float>();
                Assert.True(error == 0, $"{prefix} image {i}: max abs error {error:E2} (float32 steps must match exactly)");
            }
        }
    }

    [Fact]
    public void Preprocess_Photos_CloseToTransformers_DecoderDifferencesOnly()
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var images = EvalFixtures.LoadImages();
        foreach (var (dir, prefix, uint8Name, processor) in new (string, string, string, BaseImageProcessor)[]
                 {
                     (EvalFixtures.ClipDir, "clip", "clip.image.cropped_uint8", CLIPImageProcessor.FromPretrained(EvalFixtures.ClipDir)),
                     (EvalFixtures.DinoDir, "dino", "dino.image.resized_uint8", ViTImageProcessor.FromPretrained(EvalFixtures.DinoDir)),
                 })
        {
            using var reference = SafeTensorsFile.Open(Path.Combine(dir, "reference.safetensors"));
            var pixels = processor.Preprocess(images);
            var expected = reference.Read($"{prefix}.image.pixel_values");
            Assert.Equal(expected.shape, pixels.shape);
            for (var i = 0; i < images.Count; i++)
            {
                var u8 = tensor(processor.ResizeAndCrop(images[i]).Pixels).to(ScalarType.Int32);
                var u8Diff = (u8 - reference.Read(uint8Name)[i].flatten().to(ScalarType.Int32)).abs();
                var maxPixel = (pixels[i] - expected[i]).abs().max().item<float>();
                var meanPixel = (pixels[i] - expected[i]).abs().mean().item<float>();
                output.WriteLine($"{prefix} {EvalFixtures.ImageNames[i]}: uint8 max |diff| {u8Diff.max().item<int>()}, " +
                                 $"mean {u8Diff.to(ScalarType.Float32).mean().item<float>():F4}; pixel_values max {maxPixel:E2}, mean {meanPixel:E2}");
                // Measured: 0 for all eight (SkiaSharp's libjpeg-turbo decodes these files as Pillow's does). Another JPEG
                // decoder (IDCT, chroma upsampling) may differ by a few levels: the bound is 1e-2.
                Assert.True(maxPixel <= 1e-2, $"{prefix} {EvalFixtures.ImageNames[i]}: max |pixel_values diff| {maxPixel:E2} > 1e-2");
            }
        }
    }

    [Fact]
    public void Features_FromPhotoFiles_MatchTransformers()
    {
        // End to end: decode, preprocess, embed; the reference cosines (CLIP-I, CLIP-T, DINO) within 1e-4.
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var images = EvalFixtures.LoadImages();
        using var clip = CLIPModel.FromPretrained(EvalFixtures.ClipDir);
        using var dino = ViTModel.FromPretrained(EvalFixtures.DinoDir);
        using var clipRef = SafeTensorsFile.Open(Path.Combine(EvalFixtures.ClipDir, "reference.safetensors"));
        using var dinoRef = SafeTensorsFile.Open(Path.Combine(EvalFixtures.DinoDir, "reference.safetensors"));
        using var noGrad = no_grad();
        var imageEmbeds = clip.GetImageFeatures(CLIPImageProcessor.FromPretrained(EvalFixtures.ClipDir).Preprocess(images));
        var cls = dino.GetClsEmbedding(ViTImageProcessor.FromPretrained(EvalFixtures.DinoDir).Preprocess(images));
        foreach (var (name, actual, expected) in new[]
                 {
                     ("clip.image.image_embeds", imageEmbeds, clipRef.Read("clip.image.image_embeds")),
                     ("dino.cls", cls, dinoRef.Read("dino.cls")),
                 })
        {
            var error = (actual - expected).abs().max().item<float>();
            output.WriteLine($"{name} from the files: max abs error {error:E2}");
            Assert.True(error <= 1e-4, $"{name}: max abs error {error:E2} > 1e-4");
        }
    }
}
