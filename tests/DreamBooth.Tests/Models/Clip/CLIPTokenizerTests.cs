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

    [Theory]
    // Edge cases outside the fixtures; expected ids come from transformers 4.39's CLIPTokenizer code path (BasicTokenizer
    // or ftfy 6.3.1, the `regex` 2022.10.31 pattern, bpe) run under CPython 3.11: U+0345 is matched by no alternative,
    // Unicode 15 emoji are "Cn" to Python 3.11's BasicTokenizer, final sigma, dotted I, long s in contractions, astral
    // letters and digits, every "!" as id 0 with pad "!", mojibake and curly quotes, U+2028/U+0085/U+001C, numbers.
    [InlineData(TextNormalization.Plain, "a\u0345b \u1FB3", "320 321 157 122 367", "320 321 157 122 367")]
    [InlineData(TextNormalization.Ftfy, "a\u0345b \u1FB3", "320 321 157 122 367", "320 321 157 122 367")]
    [InlineData(TextNormalization.Plain, "a \U0001FACE in the forest", "320 530 518 4167", "320 530 518 4167")]
    [InlineData(TextNormalization.Ftfy, "a \U0001FACE in the forest", "320 558 104 492 530 518 4167", "320 558 104 492 530 518 4167")]
    [InlineData(TextNormalization.Plain, "\u039F\u0394\u039F\u03A3 \u03A3\u039A\u038A\u039B\u039F\u03A5", "138 123 138 112 138 123 139 480 139 225 138 118 138 107 138 119 138 123 139 483", "138 123 138 112 138 123 139 480 139 225 138 118 138 107 138 119 138 123 139 483")]
    [InlineData(TextNormalization.Ftfy, "\u039F\u0394\u039F\u03A3 \u03A3\u039A\u038A\u039B\u039F\u03A5", "138 123 138 112 138 123 139 480 139 225 138 118 138 107 138 119 138 123 139 483", "138 123 138 112 138 123 139 480 139 225 138 118 138 107 138 119 138 123 139 483")]
    [InlineData(TextNormalization.Plain, "\u0130stanbul at night", "328 16384 11231 536 930", "328 16384 11231 536 930")]
    [InlineData(TextNormalization.Ftfy, "\u0130stanbul at night", "328 16384 11231 536 930", "328 16384 11231 536 930")]
    [InlineData(TextNormalization.Plain, "it'\u017F <|\u017Ftartoftext|> dog", "585 6 129 379 27 91 129 123 2002 6659 18169 91 285 1929", "585 6 129 379 27 91 129 123 2002 6659 18169 91 285 1929")]
    [InlineData(TextNormalization.Ftfy, "it'\u017F <|\u017Ftartoftext|> dog", "585 6 129 379 27 91 129 123 2002 6659 18169 91 285 1929", "585 6 129 379 27 91 129 123 2002 6659 18169 91 285 1929")]
    [InlineData(TextNormalization.Plain, "\U0001D4A5ohn \U00020000\U00020001 \U0001D7CF\U0001D7D0", "43387 98 48043 172 254 222 478 172 254 222 479 6874 253 493 6874 253 494", "43387 98 48043 172 254 222 478 172 254 222 479 6874 253 493 6874 253 494")]
    [InlineData(TextNormalization.Ftfy, "\U0001D4A5ohn \U00020000\U00020001 \U0001D7CF\U0001D7D0", "43387 98 48043 172 254 222 222 172 254 222 479 6874 253 493 6874 253 494", "43387 98 48043 172 254 222 222 172 254 222 479 6874 253 493 6874 253 494")]
    [InlineData(TextNormalization.Plain, "wow!!! amazing!", "2781 995 1370 256", "2781 0 0 0 1370 0")]
    [InlineData(TextNormalization.Ftfy, "wow!!! amazing!", "2781 995 1370 256", "2781 0 0 0 1370 0")]
    [InlineData(TextNormalization.Plain, "\u00C3\u00A9t\u00C3\u00A9 \u2018sks\u2019 dog", "127 352 5811 83 127 352 5811 728 502 48136 728 503 1929", "127 352 5811 83 127 352 5811 728 502 48136 728 503 1929")]
    [InlineData(TextNormalization.Ftfy, "\u00C3\u00A9t\u00C3\u00A9 \u2018sks\u2019 dog", "3459 39694 568 662 262 1929", "3459 39694 568 662 262 1929")]
    [InlineData(TextNormalization.Plain, "\u00E9t\u00E9 &eacute;t&eacute; <i>", "3459 39694 261 68 19734 282 339 261 68 19734 282 283 328 285", "3459 39694 261 68 19734 282 339 261 68 19734 282 283 328 285")]
    [InlineData(TextNormalization.Ftfy, "\u00E9t\u00E9 &eacute;t&eacute; <i>", "3459 39694 261 68 19734 282 339 261 68 19734 282 283 328 285", "3459 39694 261 68 19734 282 339 261 68 19734 282 283 328 285")]
    [InlineData(TextNormalization.Plain, "x\u2028y\u0085z\u001Cw", "343 37579 342", "343 37579 342")]
    [InlineData(TextNormalization.Ftfy, "x\u2028y\u0085z\u001Cw", "343 344 959 42188", "343 344 959 42188")]
    [InlineData(TextNormalization.Plain, "\u00BD \u00B2 \u2167 \u0663", "33613 41175 158 227 371 149 352", "33613 41175 158 227 371 149 352")]
    [InlineData(TextNormalization.Ftfy, "\u00BD \u00B2 \u2167 \u0663", "33613 41175 158 227 371 149 352", "33613 41175 158 227 371 149 352")]
    public void Encode_EdgeCases_MatchReferenceImplementation(TextNormalization normalization, string text, string sd1Ids, string sd2Ids)
    {
        int[] Parse(string ids) => [49406, .. ids.Split(' ').Select(int.Parse), 49407];
        Assert.Equal(Parse(sd1Ids), Get(Sd1Folders[0], normalization).EncodeUnpadded(text));
        Assert.Equal(Parse(sd2Ids), Get(Sd2Folders[0], normalization).EncodeUnpadded(text));
    }

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
    public void FromFolder_AddedTokenInConfig_IsMatchedVerbatimAndDecodedApart()
    {
        // A textual-inversion style token with an id past the vocabulary, as tokenizer.add_tokens() saves it.
        var folder = Directory.CreateTempSubdirectory("clip-tokenizer-").FullName;
        try
        {
            foreach (var file in new[] { "vocab.json", "merges.txt", "special_tokens_map.json" })
                File.Copy(Fixtures.Path("tokenizer", file), Path.Combine(folder, file));
            File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), """
                {"model_max_length": 77, "pad_token": "<|endoftext|>",
                 "added_tokens_decoder": {"49408": {"content": "<Sks>", "lstrip": false, "normalized": true,
                                                    "rstrip": false, "single_word": false, "special": false}}}
                """);
            var tokenizer = CLIPTokenizer.FromFolder(folder, TextNormalization.Plain);
            Assert.Equal(["a</w>", "photo</w>", "of</w>", "<Sks>", "dog</w>"], tokenizer.Tokenize("A photo of<Sks>dog"));
            var ids = tokenizer.EncodeUnpadded("A photo of<Sks>dog");
            Assert.Equal([49406, 320, 1125, 539, 49408, 1929, 49407], ids);
            Assert.Equal("<|startoftext|>a photo of <Sks> dog <|endoftext|>", tokenizer.Decode(ids));
            Assert.Equal("a photo of <Sks> dog", tokenizer.Decode(ids, skipSpecialTokens: true));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("tokenizer_config.json", """{"added_tokens_decoder": {"not-a-number": {"content": "<x>"}}}""")]
    [InlineData("tokenizer_config.json", """{"added_tokens_decoder": {"49408": {"content": 7}}}""")]
    [InlineData("special_tokens_map.json", """{"additional_special_tokens": [3]}""")]
    [InlineData("special_tokens_map.json", """{"bos_token": {"content": false}}""")]
    [InlineData("added_tokens.json", """{"<x>": "49408"}""")]
    [InlineData("added_tokens.json", """{"<x>": null}""")]
    public void FromFolder_MalformedTokenFile_IsAOneLineUserError(string file, string json)
    {
        var folder = Directory.CreateTempSubdirectory("clip-tokenizer-").FullName;
        try
        {
            foreach (var name in new[] { "vocab.json", "merges.txt" })
                File.Copy(Fixtures.Path("tokenizer", name), Path.Combine(folder, name));
            File.WriteAllText(Path.Combine(folder, file), json);
            var e = Assert.Throws<DreamBoothException>(() => CLIPTokenizer.FromFolder(folder, TextNormalization.Plain));
            Assert.Contains(file, e.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Constructor_TinyVocabulary_MergesByRankAndAppendsSpecialTokens()
    {
        var vocab = new Dictionary<string, int>();
        foreach (var c in "abc") vocab[c.ToString()] = vocab.Count;
        foreach (var c in "abc") vocab[c + "</w>"] = vocab.Count;
        vocab["ab"] = vocab.Count;
        vocab["abc</w>"] = vocab.Count;
        var tokenizer = new CLIPTokenizer(vocab, [("a", "b"), ("ab", "c</w>")], normalization: TextNormalization.Plain);
        Assert.Equal(["abc</w>", "b", "a</w>"], tokenizer.Tokenize("abc ba"));
        // <|startoftext|> and <|endoftext|> are not in this vocabulary: they get the next free ids.
        Assert.Equal((8, 9), (tokenizer.BosTokenId, tokenizer.EosTokenId));
        Assert.Equal([8, 7, 1, 3, 9], tokenizer.EncodeUnpadded("abc ba"));
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
