namespace DreamBooth.Tests.Evaluation;

using DreamBooth.Imaging;

/// <summary>The evaluation fixtures (tests/fixtures/eval, copied from ../shared/fixtures/eval) and their input images.</summary>
internal static class EvalFixtures
{
    public static string ClipDir => Fixtures.Path("eval", "clip-tiny");

    public static string DinoDir => Fixtures.Path("eval", "dino-tiny");

    /// <summary>The reference inputs in reference.json's order: dog, backpack, poop_emoji, synthetic.</summary>
    public static readonly string[] ImageNames = ["dog", "backpack", "poop_emoji", "synthetic"];

    public static string ImagePath(string name) => name == "synthetic"
        ? Fixtures.Path("eval", "images", "synthetic_301x157.png")
        : Fixtures.Path("eval", "photos", name, "00.jpg");

    public static IReadOnlyList<RgbImage> LoadImages() => [.. ImageNames.Select(n => ImageLoader.Load(ImagePath(n)))];

    /// <summary>The CLIP-T prompts of reference.json, in order.</summary>
    public static readonly string[] Prompts =
    [
        "a photo of a dog",
        "a sks dog in the jungle",
        "a red sks backpack",
        "a backpack on top of pink fabric",
        "a cube shaped sks toy",
        "A PHOTO OF A POOP EMOJI TOY, 4K!",
        "a sks dog wearing a black top hat and a monocle, sitting on a velvet throne in a gothic cathedral, volumetric lighting, " +
        "god rays through stained glass windows, intricate ornate details, by greg rutkowski and alphonse mucha, artstation, concept art, " +
        "smooth, sharp focus, illustration, 8k resolution, unreal engine 5, octane render, cinematic composition, dramatic atmosphere, masterpiece",
    ];
}
