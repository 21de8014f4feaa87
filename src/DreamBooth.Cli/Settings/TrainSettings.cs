namespace DreamBooth.Cli.Settings;

using System.ComponentModel;
using System.Reflection;
using System.Reflection.Emit;
using DreamBooth.Training;
using Spectre.Console;
using Spectre.Console.Cli;

/// <summary>
/// Settings of `dreambooth train`. The training options are declared once, in the library (<see cref="TrainOption"/>);
/// Spectre only knows options as <see cref="CommandOptionAttribute"/> properties, so <see cref="Type"/> is a subclass
/// emitted at start-up with one such property per option. Spectre then parses, converts, lists in --help and rejects
/// mistyped flags for train exactly as for the other commands, and no option is restated or copied here.
/// </summary>
public class TrainSettings : CommonSettings
{
    [CommandOption("--config <FILE>")]
    [Description("A JSON or YAML file with the same keys (snake_case or kebab-case); flags given here override it.")]
    public string? Config { get; init; }

    private static readonly Lazy<Type> Emitted = new(Emit);

    /// <summary>The settings type Spectre binds `train` to: this class plus a property per <see cref="TrainOption"/>.</summary>
    public static Type Type => Emitted.Value;

    /// <summary>The options: the --config file's (or the defaults), then each flag given on top.</summary>
    internal TrainOptions ToOptions()
    {
        var options = Config is null ? new TrainOptions() : TrainOptions.LoadConfig(Config);
        foreach (var option in TrainOption.All)
        {
            var given = GetType().GetProperty(option.PropertyName)!.GetValue(this);
            if (given is not null) options = option.With(options, given is string text ? option.Parse(text) : given);
        }
        return options;
    }

    /// <summary>The Spectre template of an option: <c>-m|--pretrained-model-name-or-path|--model &lt;MODEL&gt;</c>.</summary>
    internal static string Template(TrainOption option)
    {
        var names = option.Aliases.Where(a => !a.StartsWith("--", StringComparison.Ordinal))
            .Append(option.Flag)
            .Concat(option.Aliases.Where(a => a.StartsWith("--", StringComparison.Ordinal)));
        return string.Join('|', names) + (option.ValueName is null ? "" : $" <{option.ValueName}>");
    }

    // Spectre converts and reports bad numbers itself (a usage error, exit 2) for these types; every other value
    // arrives as text for TrainOption.Parse (seed, method, comma lists).
    private static Type FlagType(TrainOption option) => option.BaseType switch
    {
        var t when t == typeof(bool) || t == typeof(int) || t == typeof(double) => typeof(Nullable<>).MakeGenericType(t),
        _ => typeof(string),
    };

    private static Type Emit()
    {
        var module = AssemblyBuilder.DefineDynamicAssembly(new AssemblyName("DreamBooth.Cli.TrainFlags"), AssemblyBuilderAccess.Run)
            .DefineDynamicModule("TrainFlags");
        var type = module.DefineType("DreamBooth.Cli.Settings.TrainFlags", TypeAttributes.Public | TypeAttributes.Sealed, typeof(TrainSettings));
        type.DefineDefaultConstructor(MethodAttributes.Public);
        var optionAttribute = typeof(CommandOptionAttribute).GetConstructor([typeof(string), typeof(bool)])!;
        var descriptionAttribute = typeof(DescriptionAttribute).GetConstructor([typeof(string)])!;
        const MethodAttributes accessor = MethodAttributes.Public | MethodAttributes.SpecialName | MethodAttributes.HideBySig;
        foreach (var option in TrainOption.All)
        {
            var valueType = FlagType(option);
            var field = type.DefineField("_" + option.Key, valueType, FieldAttributes.Private);
            var get = type.DefineMethod("get_" + option.PropertyName, accessor, valueType, Type.EmptyTypes);
            var il = get.GetILGenerator();
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldfld, field);
            il.Emit(OpCodes.Ret);
            var set = type.DefineMethod("set_" + option.PropertyName, accessor, null, [valueType]);
            il = set.GetILGenerator();
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldarg_1);
            il.Emit(OpCodes.Stfld, field);
            il.Emit(OpCodes.Ret);
            var property = type.DefineProperty(option.PropertyName, PropertyAttributes.None, valueType, null);
            property.SetGetMethod(get);
            property.SetSetMethod(set);
            property.SetCustomAttribute(new CustomAttributeBuilder(optionAttribute, [Template(option), false]));
            // Spectre reads descriptions as markup: a '[' in a help text must not start a style.
            property.SetCustomAttribute(new CustomAttributeBuilder(descriptionAttribute, [Markup.Escape(option.HelpText)]));
        }
        return type.CreateType();
    }
}
