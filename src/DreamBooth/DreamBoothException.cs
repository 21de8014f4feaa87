namespace DreamBooth;

/// <summary>An error caused by input, configuration or environment: its message is one readable line for the user.</summary>
public class DreamBoothException : Exception
{
    public DreamBoothException(string message) : base(message) { }

    public DreamBoothException(string message, Exception inner) : base(message, inner) { }
}
