using DreamBooth.Text;

namespace DreamBooth.Tests.Text;

public sealed class PyStringTests
{
    [Theory]
    [InlineData("\u039f\u0394\u039f\u03a3", "\u03bf\u03b4\u03bf\u03c2")]           // final sigma
    [InlineData("\u03a3\u039f\u03a3 \u03a3", "\u03c3\u03bf\u03c2 \u03c3")]       // sigma alone is not final
    [InlineData("\u0130stanbul", "i\u0307stanbul")]                                // full mapping of dotted capital I
    [InlineData("STRASSE \u00c4PFEL", "strasse \u00e4pfel")]
    [InlineData("\U00010400", "\U00010428")]                                      // astral (Deseret)
    public void Lower_MatchesPythonStrLower(string text, string expected) => Assert.Equal(expected, PyString.Lower(text));

    [Fact]
    public void SplitAndStrip_UsePythonWhitespace()
    {
        Assert.Equal(["a", "b", "c"], PyString.Split("\u001c a\u2028b\u3000\u00a0c \u0085"));
        Assert.Equal("x\u200by", PyString.Strip("\u001f\t x\u200by\u2029 "));
    }

    [Fact]
    public void Category_CodePointsNewerThanUnicode14_AreUnassigned()
    {
        Assert.Equal(System.Globalization.UnicodeCategory.OtherNotAssigned, PyString.Category(0x1FACE)); // moose, Unicode 15
        Assert.Equal(System.Globalization.UnicodeCategory.OtherSymbol, PyString.Category(0x1F600));
    }
}
