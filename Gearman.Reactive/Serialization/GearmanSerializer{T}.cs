using System.Buffers;
using System.Text.Json.Serialization.Metadata;

namespace Gearman.Reactive.Serialization;

/// <summary>
/// Turns values of <typeparamref name="T"/> into job payloads and back, for the typed entry points
/// (<see cref="TypedClientExtensions"/>, <see cref="TypedWorkerExtensions"/>, <see cref="TypedMapReduceExtensions"/>).
/// Implementations must be thread-safe. A source-generated <see cref="JsonTypeInfo{T}"/> converts implicitly, so
/// <c>AppJson.Default.Order</c> can be passed wherever a serializer is expected.
/// </summary>
/// <typeparam name="T">The payload type.</typeparam>
public abstract class GearmanSerializer<T>
{
    /// <summary>Writes <paramref name="value"/> as a payload.</summary>
    /// <param name="destination">Receives the bytes.</param>
    /// <param name="value">The value.</param>
    public abstract void Serialize(IBufferWriter<byte> destination, T value);

    /// <summary>Reads a payload; throws (any exception) when the bytes are not a <typeparamref name="T"/>.</summary>
    /// <param name="payload">The payload, valid only during the call.</param>
    /// <returns>The value.</returns>
    public abstract T Deserialize(ReadOnlyMemory<byte> payload);

    /// <summary>A System.Text.Json serializer over <paramref name="typeInfo"/>, as <see cref="GearmanSerializer.Json{T}"/>.</summary>
    /// <param name="typeInfo">Source-generated (or resolved) type metadata.</param>
    public static implicit operator GearmanSerializer<T>(JsonTypeInfo<T> typeInfo) => GearmanSerializer.Json(typeInfo);
}
