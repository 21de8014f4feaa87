namespace DreamBooth.IO;

using TorchSharp;

/// <summary>The dtype strings of the safetensors format and their torch equivalents.</summary>
public static class SafeTensorsDtype
{
    private static readonly Dictionary<string, (torch.ScalarType Type, int Size)> Known = new(StringComparer.Ordinal)
    {
        ["F64"] = (torch.ScalarType.Float64, 8),
        ["F32"] = (torch.ScalarType.Float32, 4),
        ["F16"] = (torch.ScalarType.Float16, 2),
        ["BF16"] = (torch.ScalarType.BFloat16, 2),
        ["I64"] = (torch.ScalarType.Int64, 8),
        ["I32"] = (torch.ScalarType.Int32, 4),
        ["I16"] = (torch.ScalarType.Int16, 2),
        ["I8"] = (torch.ScalarType.Int8, 1),
        ["U8"] = (torch.ScalarType.Byte, 1),
        ["BOOL"] = (torch.ScalarType.Bool, 1),
    };

    public static bool IsKnown(string dtype) => Known.ContainsKey(dtype);

    public static int SizeOf(string dtype) => Known[dtype].Size;

    public static torch.ScalarType ToTorch(string dtype) => Known[dtype].Type;

    public static string FromTorch(torch.ScalarType type)
    {
        foreach (var (name, info) in Known)
            if (info.Type == type) return name;
        throw new DreamBoothException($"dtype {type} cannot be stored in a .safetensors file.");
    }

    public static IEnumerable<string> Names => Known.Keys;
}
