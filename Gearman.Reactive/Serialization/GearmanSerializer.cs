using System.Text.Json.Serialization.Metadata;

namespace Gearman.Reactive.Serialization;

/// <summary>The serializers the SDK ships.</summary>
public static class GearmanSerializer
{
    /// <summary>Text as UTF-8 bytes, without a byte-order mark: what libgearman, Perl and PHP peers send as strings.</summary>
    public static GearmanSerializer<string> Utf8 { get; } = new Utf8StringSerializer();

    /// <summary>
    /// JSON (UTF-8) through System.Text.Json with the given metadata: pass a source-generated
    /// <c>JsonSerializerContext</c> property for trimmed and native-AOT applications.
    /// </summary>
    /// <typeparam name="T">The payload type.</typeparam>
    /// <param name="typeInfo">The type's JSON metadata.</param>
    /// <returns>A thread-safe serializer.</returns>
    public static GearmanSerializer<T> Json<T>(JsonTypeInfo<T> typeInfo)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        return new JsonGearmanSerializer<T>(typeInfo);
    }
}
