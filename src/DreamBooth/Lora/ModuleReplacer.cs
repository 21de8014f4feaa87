// Swaps a registered child module for another (a LoRA wrapper for its Linear/Conv2d), keeping the parent's C# field,
// its registration and the children's order (hence parameter order) in step.
namespace DreamBooth.Lora;

using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;

internal static class ModuleReplacer
{
    /// <summary>Replaces <paramref name="parent"/>'s child <paramref name="name"/> (currently <paramref name="old"/>).</summary>
    /// <param name="path">The child's full module path, for error messages.</param>
    public static void Replace(nn.Module parent, string name, nn.Module old, Module<Tensor, Tensor> replacement, string path)
    {
        var field = Check(parent, old, replacement.GetType(), path);
        if (field is null)
            ((Modules.ModuleList<Module<Tensor, Tensor>>)parent)[int.Parse(name, System.Globalization.CultureInfo.InvariantCulture)] = replacement;
        else
            field.SetValue(parent, replacement);

        // Re-register every child in the original order (removing one and adding it back would move it last).
        var children = parent.named_children().ToList();
        foreach (var (childName, _) in children) parent.register_module(childName, null!);
        foreach (var (childName, child) in children)
            parent.register_module(childName, childName == name ? replacement : child);
    }

    /// <summary>
    /// Throws unless <paramref name="parent"/> can hold a <paramref name="replacementType"/> in place of
    /// <paramref name="old"/>; returns the field that holds it (null: an entry of a ModuleList of modules).
    /// </summary>
    public static FieldInfo? Check(nn.Module parent, nn.Module old, Type replacementType, string path)
    {
        if (parent is Modules.ModuleList<Module<Tensor, Tensor>>) return null;
        // TorchSharp forwards through the parent's fields, not its registry: the field holding the child must change
        // too. Models declare such fields as Module<Tensor, Tensor> so that a wrapper fits (RegisterComponents finds
        // children by field the same way).
        var field = Fields(parent.GetType()).FirstOrDefault(f => ReferenceEquals(f.GetValue(parent), old))
            ?? throw new DreamBoothException(
                $"Cannot attach a LoRA adapter to '{path}': {parent.GetType().Name} holds it in no field or list of modules.");
        if (!field.FieldType.IsAssignableFrom(replacementType))
            throw new DreamBoothException(
                $"Cannot attach a LoRA adapter to '{path}': {parent.GetType().Name}.{field.Name} is declared as " +
                $"{field.FieldType.Name}, which cannot hold a {replacementType.Name}.");
        return field;
    }

    private static IEnumerable<FieldInfo> Fields(Type? type)
    {
        for (; type is not null && type != typeof(nn.Module); type = type.BaseType)
            foreach (var f in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                if (typeof(nn.Module).IsAssignableFrom(f.FieldType)) yield return f;
    }
}
