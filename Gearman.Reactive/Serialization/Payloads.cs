using System.Buffers;

namespace Gearman.Reactive.Serialization;

/// <summary>The one place the typed entry points call serializers, so every failure names its payload.</summary>
internal static class Payloads
{
    /// <summary>Serializes into a fresh buffer (the typed layer's one allocation per payload).</summary>
    public static ReadOnlyMemory<byte> Write<T>(GearmanSerializer<T> serializer, T value, string what)
    {
        var buffer = new ArrayBufferWriter<byte>();
        try
        {
            serializer.Serialize(buffer, value);
        }
        catch (Exception ex) when (ex is not GearmanSerializationException and not OperationCanceledException)
        {
            throw new GearmanSerializationException($"{what} could not be serialized as {typeof(T).Name}: {ex.Message}", ex);
        }

        return buffer.WrittenMemory;
    }

    /// <summary>Deserializes, wrapping whatever the serializer throws in a <see cref="GearmanSerializationException"/>.</summary>
    public static T Read<T>(GearmanSerializer<T> serializer, ReadOnlyMemory<byte> payload, string what)
    {
        try
        {
            return serializer.Deserialize(payload);
        }
        catch (Exception ex) when (ex is not GearmanSerializationException and not OperationCanceledException)
        {
            throw new GearmanSerializationException($"{what} is not a valid {typeof(T).Name} ({payload.Length} bytes): {ex.Message}", ex);
        }
    }
}
