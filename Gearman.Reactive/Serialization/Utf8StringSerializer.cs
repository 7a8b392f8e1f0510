using System.Buffers;
using System.Text;

namespace Gearman.Reactive.Serialization;

/// <summary>Strings as UTF-8. Invalid UTF-8 throws rather than turning into replacement characters.</summary>
internal sealed class Utf8StringSerializer : GearmanSerializer<string>
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public override void Serialize(IBufferWriter<byte> destination, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        Strict.GetBytes(value, destination);
    }

    public override string Deserialize(ReadOnlyMemory<byte> payload) => Strict.GetString(payload.Span);
}
