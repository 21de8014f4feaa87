using System.Diagnostics;
using System.Text.Json;
using DreamBooth.Models.Clip;
using DreamBooth.Torch;
using TorchSharp;

namespace DreamBooth.Tests.Models.Clip;

/// <summary>Parity with transformers' CLIPTokenizer on every case of tests/fixtures/tokenizer/cases*.json.</summary>
public sealed class CLIPTokenizerTests
{
    // sd1-style folders pad with <|endoftext|> (49407); sd2-style folders pad with "!" (id 0).
    private static readonly string[] Sd1Folders = [Fixtures.Path("tokenizer"), Fixtures.Path("sd15-tiny", "tokenizer"), Fixtures.Path("sdxl-tiny", "tokenizer")];
    private static readonly string[] Sd2Folders = [Fixtures.Path("sd2-tiny-v", "tokenizer"), Fixtures.Path("sdxl-tiny", "tokenizer_2")];

    private static readonly Dictionary<(string, TextNormalization), CLIPTokenizer> Tokenizers = [];
    private static readonly Lock Gate = new();

    private static readonly Lazy<Dictionary<string, JsonElement>> PlainCases = new(() => LoadCases("cases.json"));
    private static readonly Lazy<Dictionary<string, JsonElement>> FtfyCases = new(() => LoadCases("cases_ftfy.json"));

    public static TheoryData<string> PlainCaseNames => [.. PlainCases.Value.Keys];

    public static TheoryData<string> FtfyCaseNames => [.. FtfyCases.Value.Keys];

    [Theory]
    [MemberData(nameof(PlainCaseNames))]
    public void Tokenizer_PlainNormalization_MatchesTransformersWithoutFtfy(string name) =>
        AssertCase(PlainCases.Value[name], TextNormalization.Plain);

    [Theory]
    [MemberData(nameof(FtfyCaseNames))]
    public void Tokenizer_FtfyNormalization_MatchesTransformersWithFtfy(string name) =>
        AssertCase(FtfyCases.Value[name], TextNormalization.Ftfy);

    [Fact]
    public void FromFolder_DefaultNormalization_IsFtfy()
    {
        var tokenizer = CLIPTokenizer.FromFolder(Fixtures.Path("tokenizer"));
        Assert.Equal(TextNormalization.Ftfy, tokenizer.Normalization);
        Assert.Equal((49406, 49407, 49407, 77, 49408), (tokenizer.BosTokenId, tokenizer.EosTokenId, tokenizer.PadTokenId, tokenizer.ModelMaxLength, tokenizer.VocabSize));
        Assert.Equal(0, Get(Sd2Folders[0], TextNormalization.Ftfy).PadTokenId);
    }

    [Fact]
    public void Encode_LongPrompt_KeepsBosFirst75TokensAndEos()
    {
        var tokenizer = Get(Sd1Folders[0], TextNormalization.Ftfy);
        var prompt = string.Join(' ', Enumerable.Range(0, 100).Select(i => i % 2 == 0 ? "dog" : "cat"));
        var full = tokenizer.EncodeUnpadded(prompt);
        Assert.Equal(102, full.Length);

        var (ids, mask) = tokenizer.Encode(prompt);
        Assert.Equal(77, ids.Length);
        Assert.Equal(full.Take(76), ids.Take(76));
        Assert.Equal(49407, ids[76]);
        Assert.All(mask, m => Assert.Equal(1, m));

        var (untruncated, untruncatedMask) = tokenizer.Encode(prompt, padToMax: true, truncate: false);
        Assert.Equal(full, untruncated);
        Assert.Equal(102, untruncatedMask.Length);
    }

    [Fact]
    public void Encode_ShortPromptWithoutPadding_HasNoPadTokens()
    {
        var tokenizer = Get(Sd2Folders[0], TextNormalization.Ftfy);
        var (ids, mask) = tokenizer.Encode("a photo of sks dog", padToMax: false);
        Assert.Equal([49406, 320, 1125, 539, 48136, 1929, 49407], ids);
        Assert.Equal([1, 1, 1, 1, 1, 1, 1], mask);
    }

    [Fact]
    public void Tokenize_RepeatedWord_IsCachedOnceAndGivesTheSameTokens()
    {
        var tokenizer = CLIPTokenizer.FromFolder(Fixtures.Path("tokenizer"));
        var before = tokenizer.CachedWordCount;
        var first = tokenizer.Tokenize("zyxwvutsrq");
        var afterFirst = tokenizer.CachedWordCount;
        var second = tokenizer.Tokenize("zyxwvutsrq zyxwvutsrq");
        Assert.Equal(before + 1, afterFirst);
        Assert.Equal(afterFirst, tokenizer.CachedWordCount);
        Assert.Equal(first.Concat(first), second);
        Assert.Equal("zyxwvutsrq</w>", string.Concat(first));
    }

    [Fact]
    public void EncodeBatch_TwoPrompts_GivesInt64TensorsOfShapeBx77()
    {
        TorchRuntime.EnsureLoaded();
        var tokenizer = Get(Sd1Folders[0], TextNormalization.Ftfy);
        string[] prompts = ["a photo of sks dog", ""];
        var (ids, mask) = tokenizer.EncodeBatch(prompts);
        using var _ = ids;
        using var __ = mask;
        Assert.Equal([2L, 77L], ids.shape);
        Assert.Equal(torch.ScalarType.Int64, ids.dtype);
        Assert.Equal(torch.ScalarType.Int64, mask.dtype);
        for (var b = 0; b < prompts.Length; b++)
        {
            var (expectedIds, expectedMask) = tokenizer.Encode(prompts[b]);
            Assert.Equal(expectedIds.Select(v => (long)v), ids[b].data<long>().ToArray());
            Assert.Equal(expectedMask.Select(v => (long)v), mask[b].data<long>().ToArray());
        }
    }

    [Fact]
    public void FromFolder_RealVocabulary_LoadsQuickly()
    {
        var watch = Stopwatch.StartNew();
        var tokenizer = CLIPTokenizer.FromFolder(Fixtures.Path("sd15-tiny", "tokenizer"));
        watch.Stop();
        Assert.Equal(49408, tokenizer.VocabSize);
        // Generous bound for a shared 2-core runner; it takes about 0.1 s on an idle one.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3), $"loading took {watch.Elapsed}");
    }

    [Fact]
    public void FromFolder_MissingFolder_ThrowsReadableError()
    {
        var e = Assert.Throws<DreamBoothException>(() => CLIPTokenizer.FromFolder("/nonexistent/tokenizer"));
        Assert.Contains("/nonexistent/tokenizer", e.Message);
    }

    private static void AssertCase(JsonElement c, TextNormalization normalization)
    {
        var text = c.GetProperty("text").GetString()!;
        foreach (var folder in Sd1Folders)
        {
            var tokenizer = Get(folder, normalization);
            Assert.Equal(c.GetProperty("pre_bpe_text").GetString(), tokenizer.NormalizeText(text));
            Assert.Equal(Strings(c, "bpe_tokens"), tokenizer.Tokenize(text));
            Assert.Equal(Ints(c, "ids_unpadded"), tokenizer.EncodeUnpadded(text));
            var (ids, mask) = tokenizer.Encode(text);
            Assert.Equal(Ints(c, "sd1_input_ids"), ids);
            Assert.Equal(Ints(c, "sd1_attention_mask"), mask);
            var unpadded = Ints(c, "ids_unpadded");
            Assert.Equal(c.GetProperty("decoded_unpadded").GetString(), tokenizer.Decode(unpadded));
            Assert.Equal(c.GetProperty("decoded_unpadded_skip_special").GetString(), tokenizer.Decode(unpadded, skipSpecialTokens: true));
        }
        foreach (var folder in Sd2Folders)
        {
            var (ids, mask) = Get(folder, normalization).Encode(text);
            Assert.Equal(Ints(c, "sd2_input_ids"), ids);
            Assert.Equal(Ints(c, "sd2_attention_mask"), mask);
        }
    }

    private static CLIPTokenizer Get(string folder, TextNormalization normalization)
    {
        lock (Gate)
        {
            if (!Tokenizers.TryGetValue((folder, normalization), out var tokenizer))
                Tokenizers[(folder, normalization)] = tokenizer = CLIPTokenizer.FromFolder(folder, normalization);
            return tokenizer;
        }
    }

    private static Dictionary<string, JsonElement> LoadCases(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("tokenizer", file)));
        return doc.RootElement.GetProperty("cases").EnumerateArray()
            .ToDictionary(c => c.GetProperty("name").GetString()!, c => c.Clone());
    }

    private static string[] Strings(JsonElement c, string key) => [.. c.GetProperty(key).EnumerateArray().Select(e => e.GetString()!)];

    private static int[] Ints(JsonElement c, string key) => [.. c.GetProperty(key).EnumerateArray().Select(e => e.GetInt32())];
}
