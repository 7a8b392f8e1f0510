using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Gearman.Reactive.Serialization;

/// <summary>JSON through one <see cref="JsonTypeInfo{T}"/>: no reflection, so it trims.</summary>
internal sealed class JsonGearmanSerializer<T>(JsonTypeInfo<T> typeInfo) : GearmanSerializer<T>
{
    public override void Serialize(IBufferWriter<byte> destination, T value)
    {
        using var writer = new Utf8JsonWriter(destination);
        JsonSerializer.Serialize(writer, value, typeInfo);
    }

    public override T Deserialize(ReadOnlyMemory<byte> payload) => JsonSerializer.Deserialize(payload.Span, typeInfo)!;
}
