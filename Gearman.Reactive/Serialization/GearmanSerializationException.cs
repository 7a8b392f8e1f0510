namespace Gearman.Reactive.Serialization;

/// <summary>
/// A payload could not be serialized or deserialized by a typed entry point. On a worker it fails only that job
/// (<c>WORK_EXCEPTION</c> with this message); on a client it is what the typed call throws.
/// </summary>
public sealed class GearmanSerializationException : GearmanException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What could not be read or written, and why.</param>
    /// <param name="innerException">The serializer's own exception.</param>
    public GearmanSerializationException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
