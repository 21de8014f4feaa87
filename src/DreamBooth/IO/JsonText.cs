namespace DreamBooth.IO;

using System.Text.Json;

/// <summary>Serializer options shared by every JSON file we write, so one instance (and its metadata cache) is reused.</summary>
public static class JsonText
{
    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
}
