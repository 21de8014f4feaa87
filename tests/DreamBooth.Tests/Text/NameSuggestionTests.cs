namespace DreamBooth.Tests.Text;

using DreamBooth.Text;

public sealed class NameSuggestionTests
{
    private static readonly string[] Known = ["steps", "seed", "max-train-steps", "learning-rate", "lora"];

    [Theory]
    [InlineData("stpes", "steps")]          // swapped neighbours
    [InlineData("max-train-step", "max-train-steps")]
    [InlineData("learnig-rate", "learning-rate")]
    [InlineData("lroa", "lora")]
    public void Closest_Typo_FindsTheName(string typo, string expected) => Assert.Equal(expected, NameSuggestion.Closest(typo, Known));

    [Theory]
    [InlineData("foo")]
    [InlineData("resolution")]
    public void Closest_UnrelatedName_Null(string name) => Assert.Null(NameSuggestion.Closest(name, Known));

    [Fact]
    public void Hint_FormatsOrIsEmpty()
    {
        Assert.Equal(" (did you mean 'seed'?)", NameSuggestion.Hint("sed", Known));
        Assert.Equal("", NameSuggestion.Hint("zzzzzz", Known));
    }
}
