// Mirrors the parts of transformers' PreTrainedTokenizerBase.from_pretrained (v4.39.3) that a CLIP tokenizer folder
// uses: tokenizer_config.json, special_tokens_map.json (which wins over it) and added_tokens.json.
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DreamBooth.Models.Clip;

using DreamBooth.Loading;

/// <summary>A token matched verbatim in the prompt before normalisation (transformers' AddedToken).</summary>
public sealed record AddedToken(string Content, int Id, bool Special, bool LStrip = false, bool RStrip = false,
    bool SingleWord = false);

/// <summary>Special tokens, added tokens and the maximum length of a CLIP tokenizer.</summary>
public sealed record CLIPTokenizerConfig
{
    public const string StartOfText = "<|startoftext|>";
    public const string EndOfText = "<|endoftext|>";

    /// <summary>Sequence length the text encoder takes (77 for every Stable Diffusion CLIP).</summary>
    public int ModelMaxLength { get; init; } = 77;

    public string BosToken { get; init; } = StartOfText;
    public string EosToken { get; init; } = EndOfText;
    public string UnkToken { get; init; } = EndOfText;

    /// <summary><c>&lt;|endoftext|&gt;</c> for SD 1.x; <c>!</c> (id 0) for SD 2.x and SDXL's tokenizer_2.</summary>
    public string PadToken { get; init; } = EndOfText;

    public IReadOnlyList<string> AdditionalSpecialTokens { get; init; } = [];

    /// <summary>
    /// Tokens with explicit ids (tokenizer_config's added_tokens_decoder, added_tokens.json), plus the strip flags of
    /// special tokens written as objects without an id (Id -1: the tokenizer takes the vocabulary id).
    /// </summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; init; } = [];

    /// <summary>Whether Decode removes the spaces BPE leaves before punctuation (" ," → ",").</summary>
    public bool CleanUpTokenizationSpaces { get; init; } = true;

    /// <summary>The named special tokens in transformers' order (bos, eos, unk, pad, additional).</summary>
    public IEnumerable<string> SpecialTokens => [BosToken, EosToken, UnkToken, PadToken, .. AdditionalSpecialTokens];

    /// <summary>Reads the optional JSON files of a tokenizer folder; absent files leave the CLIP defaults.</summary>
    public static CLIPTokenizerConfig Load(string folder)
    {
        var config = new CLIPTokenizerConfig();
        var added = new List<AddedToken>();
        var path = Path.Combine(folder, "tokenizer_config.json");
        if (ReadObject(path) is { } tokenizerConfig)
            config = Guarded(path, () =>
            {
                var c = Apply(config, tokenizerConfig, added);
                if (tokenizerConfig["model_max_length"] is JsonValue max)
                    c = c with { ModelMaxLength = ReadMaxLength(folder, max) };
                if (tokenizerConfig["clean_up_tokenization_spaces"] is JsonValue clean && clean.TryGetValue(out bool cleanUp))
                    c = c with { CleanUpTokenizationSpaces = cleanUp };
                if (tokenizerConfig["added_tokens_decoder"] is JsonObject decoder)
                    foreach (var (id, token) in decoder)
                        added.Add(ReadAddedToken(token, int.Parse(id, CultureInfo.InvariantCulture), folder));
                return c;
            });

        path = Path.Combine(folder, "special_tokens_map.json");
        if (ReadObject(path) is { } specialTokensMap) config = Guarded(path, () => Apply(config, specialTokensMap, added));

        path = Path.Combine(folder, "added_tokens.json");
        if (ReadObject(path) is { } addedTokensJson)
            Guarded(path, () =>
            {
                foreach (var (content, id) in addedTokensJson)
                    if (added.All(t => t.Content != content))
                        added.Add(new AddedToken(content, (id ?? throw new FormatException($"token '{content}' has no id")).GetValue<int>(), Special: false));
                return 0;
            });
        return config with { AddedTokens = added };
    }

    // JsonNode.GetValue and int.Parse throw these for a value of the wrong type (e.g. a number where a token string
    // belongs): that is a broken model folder, so it is reported like any other bad input, naming the file.
    private static T Guarded<T>(string path, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or OverflowException)
        {
            throw new DreamBoothException($"{path}: malformed tokenizer file ({e.Message.TrimEnd('.')}).");
        }
    }

    // Special-token keys of a config or special_tokens_map object (values are strings or {"content": ...} objects).
    private static CLIPTokenizerConfig Apply(CLIPTokenizerConfig config, JsonObject json, List<AddedToken> flags)
    {
        string? Token(string key)
        {
            var node = json[key];
            if (node is JsonObject obj)
            {
                var content = obj["content"]?.GetValue<string>();
                if (content is not null && flags.All(t => t.Content != content))
                    flags.Add(ReadAddedToken(obj, -1, "special_tokens_map"));
                return content;
            }
            return node is JsonValue v && v.TryGetValue(out string? s) ? s : null;
        }
        config = config with
        {
            BosToken = Token("bos_token") ?? config.BosToken,
            EosToken = Token("eos_token") ?? config.EosToken,
            UnkToken = Token("unk_token") ?? config.UnkToken,
            PadToken = Token("pad_token") ?? config.PadToken,
        };
        if (json["additional_special_tokens"] is JsonArray extra)
            config = config with
            {
                AdditionalSpecialTokens = [.. extra.Select(n => n is JsonObject o ? o["content"]!.GetValue<string>() : n!.GetValue<string>())],
            };
        return config;
    }

    private static AddedToken ReadAddedToken(JsonNode? node, int id, string where)
    {
        if (node is not JsonObject obj || obj["content"]?.GetValue<string>() is not { } content)
            throw new DreamBoothException($"{where}: added token {id} has no \"content\".");
        bool Flag(string key) => obj[key] is JsonValue v && v.TryGetValue(out bool b) && b;
        return new AddedToken(content, id, Flag("special"), Flag("lstrip"), Flag("rstrip"), Flag("single_word"));
    }

    private static int ReadMaxLength(string folder, JsonValue value)
    {
        // transformers writes 1e30 ("VERY_LARGE_INTEGER") when a tokenizer has no limit; CLIP always has one.
        if (value.TryGetValue(out int n) && n > 0) return n;
        throw new DreamBoothException($"{Path.Combine(folder, "tokenizer_config.json")}: model_max_length must be a positive integer, not {value.ToJsonString()}.");
    }

    private static JsonObject? ReadObject(string path) => File.Exists(path) ? ConfigFile.Load(path).Json : null;
}
