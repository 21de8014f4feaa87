// Mirrors transformers src/transformers/models/clip/tokenization_clip.py::CLIPTokenizer (v4.39.3, the slow tokenizer
// diffusers uses) together with PreTrainedTokenizer's added-token splitting, truncation, padding and decoding.
using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using DreamBooth.Text;
using DreamBooth.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Models.Clip;

/// <summary>How prompt text is normalised before BPE.</summary>
public enum TextNormalization
{
    /// <summary>transformers with the ftfy package installed (diffusers' usual setup): ftfy.fix_text, whitespace, lower.</summary>
    Ftfy,

    /// <summary>transformers without ftfy: the BasicTokenizer fallback (control chars dropped, CJK split, NFC, lower).</summary>
    Plain,
}

/// <summary>CLIP's byte-level BPE tokenizer: <c>&lt;|startoftext|&gt;</c> + tokens + <c>&lt;|endoftext|&gt;</c>, padded to 77.</summary>
public sealed class CLIPTokenizer
{
    private readonly Dictionary<string, int> encoder;
    private readonly Dictionary<int, string> decoder;
    private readonly Dictionary<(string, string), int> bpeRanks;
    private readonly ConcurrentDictionary<string, string[]> cache = new(StringComparer.Ordinal);
    private readonly Dictionary<string, AddedToken> addedTokens = new(StringComparer.Ordinal);
    private readonly Dictionary<int, AddedToken> addedTokensById = new();
    private readonly AddedToken[] addedByLength; // longest first, for leftmost-longest matching
    private readonly HashSet<int> specialIds = [];
    private readonly HashSet<string> legacyAddedTokens = new(StringComparer.Ordinal);
    private readonly CLIPTokenizerConfig config;

    public CLIPTokenizer(IReadOnlyDictionary<string, int> vocab, IEnumerable<(string First, string Second)> merges,
        CLIPTokenizerConfig? config = null, TextNormalization normalization = TextNormalization.Ftfy)
    {
        this.config = config ??= new CLIPTokenizerConfig();
        Normalization = normalization;
        encoder = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        decoder = new Dictionary<int, string>(encoder.Count);
        foreach (var (token, id) in encoder) decoder[id] = token;
        bpeRanks = new Dictionary<(string, string), int>();
        var rank = 0;
        foreach (var merge in merges) bpeRanks[merge] = rank++; // like dict(zip(merges, range(...))): last duplicate wins
        // The special tokens BPE must leave whole when the pre-tokenizer pattern yields them.
        cache[CLIPTokenizerConfig.StartOfText] = [CLIPTokenizerConfig.StartOfText];
        cache[CLIPTokenizerConfig.EndOfText] = [CLIPTokenizerConfig.EndOfText];

        // transformers registers every special token as an added token: a pad of "!" makes each "!" in a prompt id 0.
        foreach (var token in config.AddedTokens.Where(t => t.Id >= 0)) Register(token);
        foreach (var content in config.SpecialTokens)
        {
            if (addedTokens.ContainsKey(content)) continue;
            var flags = config.AddedTokens.FirstOrDefault(t => t.Content == content);
            var id = encoder.TryGetValue(content, out var known) ? known : encoder.Count + addedTokens.Count;
            Register(flags is null ? new AddedToken(content, id, Special: true) : flags with { Id = id, Special = true });
        }
        addedByLength = [.. addedTokens.Values.OrderByDescending(t => t.Content.Length)];
        var specialNames = config.SpecialTokens.ToHashSet(StringComparer.Ordinal);
        foreach (var name in specialNames) specialIds.Add(addedTokens[name].Id);
        foreach (var token in addedTokens.Values)
            if (!specialNames.Contains(token.Content) || (config.AdditionalSpecialTokens.Contains(token.Content) && token.Id >= encoder.Count))
                legacyAddedTokens.Add(token.Content);

        BosTokenId = addedTokens[config.BosToken].Id;
        EosTokenId = addedTokens[config.EosToken].Id;
        PadTokenId = addedTokens[config.PadToken].Id;
        UnkTokenId = addedTokens[config.UnkToken].Id;
    }

    public TextNormalization Normalization { get; }

    public CLIPTokenizerConfig Config => config;

    public int ModelMaxLength => config.ModelMaxLength;

    public int BosTokenId { get; }

    public int EosTokenId { get; }

    public int PadTokenId { get; }

    public int UnkTokenId { get; }

    /// <summary>Vocabulary size without added tokens (49408 for CLIP).</summary>
    public int VocabSize => encoder.Count;

    /// <summary>Words whose BPE result is cached (grows as new words are seen).</summary>
    public int CachedWordCount => cache.Count;

    /// <summary>Loads vocab.json, merges.txt and the optional tokenizer_config.json / special_tokens_map.json.</summary>
    public static CLIPTokenizer FromFolder(string folder, TextNormalization normalization = TextNormalization.Ftfy)
    {
        if (!Directory.Exists(folder)) throw new DreamBoothException($"{folder}: tokenizer folder not found.");
        var vocab = ReadVocab(Path.Combine(folder, "vocab.json"));
        var merges = ReadMerges(Path.Combine(folder, "merges.txt"));
        return new CLIPTokenizer(vocab, merges, CLIPTokenizerConfig.Load(folder), normalization);
    }

    /// <summary>The normalised text the pre-tokenizer pattern runs on (the fixtures' <c>pre_bpe_text</c>).</summary>
    public string NormalizeText(string text) => Normalization switch
    {
        TextNormalization.Plain => BasicTokenizer.Normalize(text),
        // whitespace_clean(ftfy.fix_text(text)).lower()
        _ => PyString.Lower(PyString.Strip(CollapseWhitespace(Ftfy.FixText(text)))),
    };

    /// <summary>tokenizer.tokenize(text): BPE tokens ("photo&lt;/w&gt;") and added tokens, no BOS/EOS.</summary>
    public string[] Tokenize(string text)
    {
        var tokens = new List<string>();
        foreach (var (piece, added) in SplitOnAddedTokens(text))
        {
            if (added is not null)
            {
                tokens.Add(added.Content);
                continue;
            }
            foreach (var word in CLIPPreTokenizer.FindWords(NormalizeText(piece)))
                tokens.AddRange(Bpe(ToByteUnicode(word)));
        }
        return [.. tokens];
    }

    /// <summary>Ids of tokens (added tokens first, then the vocabulary, unknown → unk id).</summary>
    public int[] ConvertTokensToIds(IEnumerable<string> tokens) =>
        [.. tokens.Select(t => addedTokens.TryGetValue(t, out var a) ? a.Id : encoder.GetValueOrDefault(t, UnkTokenId))];

    /// <summary>
    /// <c>tokenizer(text, padding="max_length", max_length=77, truncation=True)</c>: BOS + tokens + EOS, cut to BOS +
    /// the first 75 tokens + EOS when <paramref name="truncate"/>, padded with the pad id when <paramref name="padToMax"/>.
    /// </summary>
    public (int[] InputIds, int[] AttentionMask) Encode(string text, bool padToMax = true, bool truncate = true)
    {
        var ids = ConvertTokensToIds(Tokenize(text));
        var keep = truncate ? Math.Min(ids.Length, Math.Max(0, ModelMaxLength - 2)) : ids.Length;
        var length = keep + 2;
        var total = padToMax ? Math.Max(length, ModelMaxLength) : length;
        var inputIds = new int[total];
        var mask = new int[total];
        inputIds[0] = BosTokenId;
        Array.Copy(ids, 0, inputIds, 1, keep);
        inputIds[keep + 1] = EosTokenId;
        for (var i = 0; i < total; i++)
        {
            if (i >= length) inputIds[i] = PadTokenId;
            mask[i] = i < length ? 1 : 0;
        }
        return (inputIds, mask);
    }

    /// <summary><c>tokenizer(text).input_ids</c>: BOS + all tokens + EOS, neither truncated nor padded.</summary>
    public int[] EncodeUnpadded(string text) => Encode(text, padToMax: false, truncate: false).InputIds;

    /// <summary>Input ids and attention masks of a batch as <c>[B, ModelMaxLength]</c> int64 tensors (CPU).</summary>
    public (Tensor InputIds, Tensor AttentionMask) EncodeBatch(IReadOnlyList<string> prompts)
    {
        TorchRuntime.EnsureLoaded();
        var ids = new long[prompts.Count * ModelMaxLength];
        var mask = new long[ids.Length];
        for (var b = 0; b < prompts.Count; b++)
        {
            var (inputIds, attention) = Encode(prompts[b]);
            for (var i = 0; i < ModelMaxLength; i++)
            {
                ids[b * ModelMaxLength + i] = inputIds[i];
                mask[b * ModelMaxLength + i] = attention[i];
            }
        }
        long[] shape = [prompts.Count, ModelMaxLength];
        return (torch.tensor(ids, shape, dtype: ScalarType.Int64), torch.tensor(mask, shape, dtype: ScalarType.Int64));
    }

    /// <summary>tokenizer.decode(ids, skip_special_tokens): byte-level text, "&lt;/w&gt;" as spaces, spaces cleaned up.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        var pieces = new List<string>();
        var current = new List<string>();
        foreach (var id in ids)
        {
            if (skipSpecialTokens && specialIds.Contains(id)) continue;
            var token = addedTokensById.TryGetValue(id, out var added) ? added.Content
                : decoder.TryGetValue(id, out var t) ? t
                : throw new DreamBoothException($"Token id {id} is not in the CLIP vocabulary ({encoder.Count} tokens).");
            if (legacyAddedTokens.Contains(token))
            {
                if (current.Count > 0) AddIfNotEmpty(pieces, TokensToString(current));
                current.Clear();
                pieces.Add(token);
            }
            else current.Add(token);
        }
        if (current.Count > 0) pieces.Add(TokensToString(current));
        var text = string.Join(' ', pieces);
        return config.CleanUpTokenizationSpaces ? CleanUpTokenization(text) : text;
    }

    private static void AddIfNotEmpty(List<string> pieces, string s)
    {
        if (s.Length > 0) pieces.Add(s);
    }

    // convert_tokens_to_string: byte-unicode chars back to bytes, UTF-8 with replacement, "</w>" → " ", strip.
    private static string TokensToString(List<string> tokens)
    {
        var bytes = new List<byte>();
        foreach (var c in string.Concat(tokens))
        {
            if (ByteLevel.Decoder.TryGetValue(c, out var b)) bytes.Add(b);
            else bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
        }
        return PyString.Strip(Encoding.UTF8.GetString([.. bytes]).Replace("</w>", " "));
    }

    // PreTrainedTokenizerBase.clean_up_tokenization
    private static string CleanUpTokenization(string s) =>
        s.Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",").Replace(" ' ", "'")
            .Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" 's", "'s").Replace(" 've", "'ve").Replace(" 're", "'re");

    private void Register(AddedToken token)
    {
        addedTokens[token.Content] = token;
        addedTokensById[token.Id] = token;
    }

    // Trie.split + the lstrip/rstrip/single_word handling of PreTrainedTokenizer.tokenize: added tokens are cut out of
    // the raw text (leftmost, longest first) before any normalisation.
    private List<(string Piece, AddedToken? Added)> SplitOnAddedTokens(string text)
    {
        var parts = new List<(string Piece, AddedToken? Added)>();
        var start = 0;
        for (var i = 0; i < text.Length;)
        {
            var match = Array.Find(addedByLength, t => string.CompareOrdinal(text, i, t.Content, 0, t.Content.Length) == 0);
            if (match is null || match.Content.Length == 0)
            {
                i++;
                continue;
            }
            if (i > start) parts.Add((text[start..i], null));
            parts.Add((match.Content, match));
            i += match.Content.Length;
            start = i;
        }
        if (start < text.Length) parts.Add((text[start..], null));

        for (var k = 0; k < parts.Count; k++)
        {
            if (parts[k].Added is not { } token) continue;
            // Neighbours as they were before stripping, as transformers reads them.
            var left = k > 0 ? parts[k - 1].Piece : "";
            var right = k + 1 < parts.Count ? parts[k + 1].Piece : "";
            // rstrip/lstrip: the token swallows the whitespace on that side.
            if (token.RStrip && right.Length > 0) parts[k + 1] = parts[k + 1] with { Piece = PyString.Strip(right, right: false) };
            if (token.LStrip && left.Length > 0) parts[k - 1] = parts[k - 1] with { Piece = PyString.Strip(left, left: false) };
            // single_word: glued to a neighbouring word, the token is ordinary text again.
            if (token.SingleWord && left.Length > 0 && left[^1] != ' ')
            {
                parts[k - 1] = (parts[k - 1].Piece + token.Content, null);
                parts[k] = ("", null);
            }
            else if (token.SingleWord && right.Length > 0 && right[0] != ' ')
            {
                parts[k] = (token.Content + right, null); // the unstripped neighbour, as transformers does
                parts[k + 1] = ("", null);
            }
        }
        return [.. parts.Where(p => p.Piece.Length > 0)];
    }

    private static string ToByteUnicode(string word)
    {
        var bytes = Encoding.UTF8.GetBytes(word);
        var chars = new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++) chars[i] = ByteLevel.Encoder[bytes[i]];
        return new string(chars);
    }

    // CLIPTokenizer.bpe: repeatedly merge the adjacent pair with the lowest merge rank; the last symbol ends in "</w>".
    private string[] Bpe(string token)
    {
        if (cache.TryGetValue(token, out var cached)) return cached;
        if (token.Length == 1) return [token + "</w>"];
        var word = new List<string>(token.Length);
        for (var i = 0; i < token.Length - 1; i++) word.Add(token[i].ToString());
        word.Add(token[^1] + "</w>");

        while (word.Count > 1)
        {
            var best = int.MaxValue;
            (string, string) bigram = default;
            for (var i = 0; i < word.Count - 1; i++)
                if (bpeRanks.TryGetValue((word[i], word[i + 1]), out var rank) && rank < best)
                {
                    best = rank;
                    bigram = (word[i], word[i + 1]);
                }
            if (best == int.MaxValue) break;
            var merged = new List<string>(word.Count);
            for (var i = 0; i < word.Count; i++)
            {
                if (i < word.Count - 1 && word[i] == bigram.Item1 && word[i + 1] == bigram.Item2)
                {
                    merged.Add(bigram.Item1 + bigram.Item2);
                    i++;
                }
                else merged.Add(word[i]);
            }
            word = merged;
        }
        string[] result = [.. word];
        cache[token] = result;
        return result;
    }

    private static string CollapseWhitespace(string text)
    {
        // re.sub(r"\s+", " ", text) with the `regex` module's \s (Unicode White_Space).
        var sb = new StringBuilder(text.Length);
        var inSpace = false;
        foreach (var c in text)
        {
            var space = PyString.IsWhiteSpace(c);
            if (space && !inSpace) sb.Append(' ');
            else if (!space) sb.Append(c);
            inSpace = space;
        }
        return sb.ToString();
    }

    private static Dictionary<string, int> ReadVocab(string path)
    {
        if (!File.Exists(path)) throw new DreamBoothException($"{path}: file not found.");
        // A streaming reader: JsonSerializer's first use costs more than the parse itself.
        var reader = new Utf8JsonReader(DreamBooth.IO.BoundedFile.ReadAllBytes(path, DreamBooth.IO.BoundedFile.MaxTextBytes), new JsonReaderOptions { AllowTrailingCommas = true });
        var vocab = new Dictionary<string, int>(50000, StringComparer.Ordinal);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new DreamBoothException($"{path}: expected a JSON object of token -> id.");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var token = reader.GetString()!;
                if (!reader.Read() || reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var id))
                    throw new DreamBoothException($"{path}: the id of token \"{Text.Names.Short(token)}\" is not an integer.");
                vocab[token] = id;
            }
        }
        catch (JsonException e)
        {
            throw new DreamBoothException($"{path}: invalid JSON ({e.Message.Split('.')[0]}).");
        }
        return vocab;
    }

    private static List<(string, string)> ReadMerges(string path)
    {
        if (!File.Exists(path)) throw new DreamBoothException($"{path}: file not found.");
        // transformers: read().strip().split("\n")[1 : 49152 - 256 - 2 + 1], i.e. skip the "#version" line, keep 48894.
        var lines = PyString.Strip(DreamBooth.IO.BoundedFile.ReadAllText(path)).Split('\n');
        var merges = new List<(string, string)>(lines.Length);
        foreach (var line in lines.Skip(1).Take(49152 - 256 - 2))
        {
            // Fast path for the usual "a b" line; anything else goes through str.split() semantics.
            var space = line.IndexOf(' ');
            var blanks = 0;
            foreach (var c in line)
                if (PyString.IsSpace(c)) blanks++;
            if (blanks == 1 && space > 0 && space < line.Length - 1) merges.Add((line[..space], line[(space + 1)..]));
            else if (PyString.Split(line) is [var first, var second]) merges.Add((first, second));
        }
        return merges;
    }
}
