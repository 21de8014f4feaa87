namespace DreamBooth.Tests.Training;

using DreamBooth.Training;

public sealed class ConfigLimitsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("config-limits").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Theory]
    [InlineData("a: &a [*a]\n")] // refers to itself: used to overflow the stack
    [InlineData("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
              + "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n")]
    public void LoadConfig_YamlAliasBomb_RefusedInOneLine(string yaml)
    {
        var path = Path.Combine(dir, "train.yaml");
        File.WriteAllText(path, yaml);
        var e = Assert.Throws<DreamBoothException>(() => TrainOptions.LoadConfig(path));
        Assert.StartsWith($"{path}: the YAML expands to more than", e.Message);
    }
}
