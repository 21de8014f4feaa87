using DreamBooth.Text;

namespace DreamBooth.Tests.Text;

public sealed class FtfyTests
{
    [Fact]
    public void FixText_ReferenceCorpus_MatchesFtfy631()
    {
        var failures = TextReference.FtfyCases
            .Where(c => Ftfy.FixText(c.Text) != c.Fixed)
            .Select(c => $"{TextReference.Escape(c.Text)} -> {TextReference.Escape(Ftfy.FixText(c.Text))}, expected {TextReference.Escape(c.Fixed)}")
            .ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} mismatches:\n" + string.Join("\n", failures.Take(20)));
    }

    [Fact]
    public void IsBad_ReferenceCorpus_MatchesFtfyBadnessHeuristic()
    {
        var failures = TextReference.FtfyCases.Where(c => FtfyCharData.IsBad(c.Text) != c.Bad)
            .Select(c => $"{TextReference.Escape(c.Text)}: expected {c.Bad}").ToList();
        Assert.True(failures.Count == 0, $"{failures.Count} mismatches:\n" + string.Join("\n", failures.Take(20)));
    }

    [Theory]
    [InlineData("it\u2019s the dog\u2019s \u201ctoy\u201d", "it's the dog's \"toy\"")]            // uncurl_quotes
    [InlineData("\ufb01sh of\ufb01ce \u2126 \u212b", "fish office \u03a9 \u00c5")]                // ligatures, NFC singletons
    [InlineData("dog &amp; cat &lt;3 &quot;hi&quot;", "dog & cat <3 \"hi\"")]                   // entities (no '<' in text)
    [InlineData("<b>dog &amp; cat</b>", "<b>dog &amp; cat</b>")]                                  // ... kept when it is HTML
    [InlineData("\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25", "LOUD NOISE")]    // character width
    [InlineData("\u00c3\u00a9t\u00c3\u00a9 \u00e0 Paris", "\u00e9t\u00e9 \u00e0 Paris")]           // UTF-8 read as Latin-1
    [InlineData("caf\u00e9 cr\u00e8me", "caf\u00e9 cr\u00e8me")]                                    // correct text untouched
    [InlineData("line\r\nbreak\u2028x", "line\nbreak\nx")]                                        // line breaks
    public void FixText_TypicalPromptDamage_IsRepaired(string text, string expected) =>
        Assert.Equal(expected, Ftfy.FixText(text));
}
