// Mirrors CPython Modules/unicodedata.c::normalize("NFC", s) with Unicode 14.0.0 data (Python 3.11, the reference).
// Needed because string.Normalize() silently returns its input under InvariantGlobalization, which the CLI and tests use.
using System.Globalization;
using System.Text;

namespace DreamBooth.Text;

/// <summary>Unicode canonical composition (NFC), independent of ICU and of the process globalization mode.</summary>
public static partial class UnicodeNormalizer
{
    // Hangul syllables decompose and compose algorithmically (Unicode ch. 3.12).
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private sealed record Tables(Dictionary<int, byte> CombiningClass, Dictionary<int, int[]> Decomposition,
        Dictionary<long, int> Composition);

    private static readonly Lazy<Tables> Data = new(BuildTables);

    /// <summary>NFC of <paramref name="text"/>; lone surrogates are kept as they are.</summary>
    public static string Nfc(string text)
    {
        // Below U+0300 nothing decomposes differently from how it composes, and nothing combines: fast path.
        var i = 0;
        while (i < text.Length && text[i] < 0x300) i++;
        if (i == text.Length) return text;

        var tables = Data.Value;
        var buffer = new List<int>(text.Length + 8);
        for (var k = 0; k < text.Length; k++)
        {
            int cp = text[k];
            if (char.IsHighSurrogate(text[k]) && k + 1 < text.Length && char.IsLowSurrogate(text[k + 1]))
                cp = char.ConvertToUtf32(text[k], text[++k]);
            Decompose(cp, tables, buffer);
        }
        ReorderMarks(buffer, tables);
        Compose(buffer, tables);

        var sb = new StringBuilder(buffer.Count);
        foreach (var cp in buffer) AppendCodePoint(sb, cp);
        return sb.ToString();
    }

    internal static int CombiningClass(int cp) => Data.Value.CombiningClass.GetValueOrDefault(cp);

    private static void Decompose(int cp, Tables tables, List<int> output)
    {
        var s = cp - SBase;
        if (s is >= 0 and < SCount)
        {
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        if (tables.Decomposition.TryGetValue(cp, out var parts))
            foreach (var p in parts) Decompose(p, tables, output);
        else
            output.Add(cp);
    }

    // Canonical ordering: a stable sort by combining class inside every run of non-starters.
    private static void ReorderMarks(List<int> cps, Tables tables)
    {
        for (var i = 1; i < cps.Count; i++)
        {
            var cc = tables.CombiningClass.GetValueOrDefault(cps[i]);
            if (cc == 0) continue;
            var j = i;
            while (j > 0)
            {
                var prev = tables.CombiningClass.GetValueOrDefault(cps[j - 1]);
                if (prev <= cc) break;
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
                j--;
            }
        }
    }

    // Canonical composition: each mark joins the last starter unless a mark of equal or higher class sits between them.
    private static void Compose(List<int> cps, Tables tables)
    {
        if (cps.Count == 0) return;
        var starterPos = 0;
        var starter = cps[0];
        var lastClass = tables.CombiningClass.GetValueOrDefault(starter) == 0 ? 0 : 256; // 256: nothing to compose with
        var write = 1;
        for (var read = 1; read < cps.Count; read++)
        {
            var ch = cps[read];
            int chClass = tables.CombiningClass.GetValueOrDefault(ch);
            var composite = lastClass < chClass || lastClass == 0 ? Pair(starter, ch, tables) : -1;
            if (composite >= 0)
            {
                cps[starterPos] = starter = composite;
                continue;
            }
            if (chClass == 0)
            {
                starterPos = write;
                starter = ch;
            }
            lastClass = chClass;
            cps[write++] = ch;
        }
        cps.RemoveRange(write, cps.Count - write);
    }

    private static int Pair(int first, int second, Tables tables)
    {
        if (first is >= LBase and < LBase + LCount && second is >= VBase and < VBase + VCount)
            return SBase + ((first - LBase) * VCount + (second - VBase)) * TCount;
        var s = first - SBase;
        if (s is >= 0 and < SCount && s % TCount == 0 && second is > TBase and < TBase + TCount)
            return first + (second - TBase);
        return tables.Composition.TryGetValue(((long)first << 21) | (uint)second, out var c) ? c : -1;
    }

    internal static void AppendCodePoint(StringBuilder sb, int cp)
    {
        if (cp < 0x10000) sb.Append((char)cp);
        else sb.Append(char.ConvertFromUtf32(cp));
    }

    private static Tables BuildTables()
    {
        var ccc = new Dictionary<int, byte>();
        foreach (var range in CombiningClassRanges.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = range.Split(' ');
            int first = Hex(f[0]), last = Hex(f[1]);
            var cls = byte.Parse(f[2], CultureInfo.InvariantCulture);
            for (var cp = first; cp <= last; cp++) ccc[cp] = cls;
        }
        var excluded = CompositionExclusions.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(Hex).ToHashSet();
        var decomposition = new Dictionary<int, int[]>();
        var composition = new Dictionary<long, int>();
        foreach (var entry in CanonicalDecompositions.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = entry.IndexOf(':');
            var cp = Hex(entry[..colon]);
            var parts = entry[(colon + 1)..].Split(' ').Select(Hex).ToArray();
            decomposition[cp] = parts;
            if (parts.Length == 2 && !excluded.Contains(cp)) composition[((long)parts[0] << 21) | (uint)parts[1]] = cp;
        }
        return new Tables(ccc, decomposition, composition);
    }

    private static int Hex(string s) => int.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
}
