namespace DreamBooth.Tests.Cli;

using DreamBooth.Cli;
using DreamBooth.Cli.Settings;
using DreamBooth.Tests.Training;
using DreamBooth.Training;
using Spectre.Console;
using Spectre.Console.Cli;
using static DreamBooth.Tests.Training.TrainOptionSamples;

/// <summary>
/// `dreambooth train` binds every declared option from its flag and its config key. The cases come from
/// <see cref="TrainOption.All"/>, so an option added to <see cref="TrainOptions"/> is covered without a new test.
/// </summary>
public sealed class TrainFlagTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("train-flags").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    /// <summary>What `dreambooth train ARGS` would train with: parsed by the real CLI set-up, stopped before validation.</summary>
    private static TrainOptions Bind(params string[] args)
    {
        TrainOptions? bound = null;
        var app = new CommandApp();
        app.Configure(config =>
        {
            CliApp.Configure(config, AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(TextWriter.Null) }));
            config.SetInterceptor(new Stop(settings => bound = ((TrainSettings)settings).ToOptions()));
        });
        Assert.Throws<Stopped>(() => app.Run(["train", .. args]));
        return bound!;
    }

    private sealed class Stopped : Exception;

    private sealed class Stop(Action<CommandSettings> bind) : ICommandInterceptor
    {
        public void Intercept(CommandContext context, CommandSettings settings)
        {
            bind(settings);
            throw new Stopped();
        }
    }

    [Theory]
    [MemberData(nameof(Keys), MemberType = typeof(TrainOptionSamples))]
    public void Flag_SetsTheOption(string key)
    {
        var o = Option(key);
        var value = o.Get(Bind(Flag(o, Sample(o))));
        Assert.True(Same(Sample(o), value), $"{o.Flag}: {TrainOption.Format(value)}");
    }

    [Theory]
    [MemberData(nameof(Keys), MemberType = typeof(TrainOptionSamples))]
    public void ConfigKey_SetsTheOption(string key)
    {
        var o = Option(key);
        var value = o.Get(Bind("--config", WriteConfig(dir, "train.yaml", (key, Sample(o)))));
        Assert.True(Same(Sample(o), value), $"{key}: {TrainOption.Format(value)}");
    }

    [Theory]
    [MemberData(nameof(Keys), MemberType = typeof(TrainOptionSamples))]
    public void Flag_OverridesTheConfigFile(string key)
    {
        var o = Option(key);
        var config = WriteConfig(dir, "train.json", (key, Other(o)));
        var value = o.Get(Bind(["--config", config, .. Flag(o, Sample(o))]));
        Assert.True(Same(Sample(o), value), $"{o.Flag} after {key}: {TrainOption.Format(Other(o))} in the config: {TrainOption.Format(value)}");
    }

    [Theory]
    [MemberData(nameof(Keys), MemberType = typeof(TrainOptionSamples))]
    public void NeitherFlagNorKey_TheDeclaredDefault(string key)
    {
        var o = Option(key);
        Assert.True(Same(o.Default, o.Get(Bind())), "no flag");
        Assert.True(Same(o.Default, o.Get(Bind("--config", WriteConfig(dir, "empty.yaml")))), "a config without the key");
    }

    [Theory]
    [InlineData("-m")]
    [InlineData("--model")]
    [InlineData("--pretrained-model-name-or-path")]
    public void ModelAliases_SetTheBaseModel(string flag) =>
        Assert.Equal("org/model", Bind(flag, "org/model").PretrainedModelNameOrPath);

    private static readonly Lazy<string> TrainHelp = new(() =>
    {
        var (code, output) = CliRunner.Run("train", "--help");
        Assert.Equal(0, code);
        return output;
    });

    [Theory]
    [MemberData(nameof(Keys), MemberType = typeof(TrainOptionSamples))]
    public void Help_ListsTheOptionWithItsDefault(string key)
    {
        var o = Option(key);
        // Option rows read "    -m, --flag <VALUE>    help" or "        --flag <VALUE>    help".
        var line = TrainHelp.Value.Split('\n').SingleOrDefault(l => l.TrimStart().Split(' ') is var words
            && (words[0] == o.Flag || words[0].EndsWith(',') && words[1] == o.Flag));
        Assert.True(line is not null, $"{o.Flag} not in train --help");
        Assert.Contains(o.HelpText, line);
    }

    [Theory]
    [MemberData(nameof(Keys), MemberType = typeof(TrainOptionSamples))]
    public void NumberFlag_NotANumber_UsageErrorNamingTheFlag(string key)
    {
        var o = Option(key);
        if (o.BaseType != typeof(int) && o.BaseType != typeof(double)) return;
        var (code, output) = CliRunner.Run("train", o.Flag, "abc");
        Assert.Equal(2, code);
        Assert.Equal($"error: {o.Flag}: 'abc' is not {o.Expected}.", output.Trim());
    }

    [Fact]
    public void Readme_TrainSection_ListsEveryFlag()
    {
        var readme = File.ReadAllText(Path.Combine(Fixtures.RepoRoot, "README.md"));
        var section = readme[readme.IndexOf("### train", StringComparison.Ordinal)..];
        section = section[..section.IndexOf("\n## ", StringComparison.Ordinal)];
        Assert.All(TrainOption.All, o => Assert.Contains($"`{o.Flag}", section));
    }
}
