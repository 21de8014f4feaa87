using DreamBooth.Text;

namespace DreamBooth.Tests.Text;

public sealed class UnicodeNormalizerTests
{
    [Fact]
    public void Nfc_ReferenceCorpus_MatchesCPythonUnicode14()
    {
        var failures = TextReference.NfcCases.Where(c => UnicodeNormalizer.Nfc(c.Text) != c.Nfc)
            .Select(c => $"{TextReference.Escape(c.Text)} -> {TextReference.Escape(UnicodeNormalizer.Nfc(c.Text))}, expected {TextReference.Escape(c.Nfc)}")
            .ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} mismatches:\n" + string.Join("\n", failures.Take(20)));
    }

    [Theory]
    [InlineData("cafe\u0301", "caf\u00e9")]                    // compose
    [InlineData("\u1100\u1161\u11a8", "\uac01")]               // Hangul LVT
    [InlineData("a\u0323\u0307", "\u1ea1\u0307")]              // canonical order, then compose the first mark
    [InlineData("\u0958", "\u0915\u093c")]                     // composition exclusion stays decomposed
    [InlineData("plain ascii", "plain ascii")]
    public void Nfc_KnownSequences_Compose(string text, string expected) =>
        Assert.Equal(expected, UnicodeNormalizer.Nfc(text));
}
