using System.Buffers;
using System.Text;
using Gearman.Reactive.Serialization;
using Gearman.Tests.Integration.Serialization;
using Xunit;

namespace Gearman.Tests.Unit.Serialization;

[Trait("Category", "Unit")]
public sealed class SerializerTests
{
    [Fact]
    public void Json_serializer_from_type_info_round_trips_and_writes_plain_utf8_json()
    {
        GearmanSerializer<Order> serializer = ShopJson.Default.Order; // implicit conversion
        var buffer = new ArrayBufferWriter<byte>();
        serializer.Serialize(buffer, new Order(3, "book", 1));

        Assert.Equal("""{"Id":3,"Item":"book","Quantity":1}""", Encoding.UTF8.GetString(buffer.WrittenSpan));
        Assert.Equal(new Order(3, "café", 1), serializer.Deserialize("""{"Id":3,"Item":"café","Quantity":1}"""u8.ToArray()));
    }

    [Fact]
    public void Utf8_serializer_rejects_invalid_utf8_instead_of_replacing_it()
    {
        var buffer = new ArrayBufferWriter<byte>();
        GearmanSerializer.Utf8.Serialize(buffer, "héllo");
        Assert.Equal("héllo"u8.ToArray(), buffer.WrittenSpan.ToArray());
        Assert.Equal("héllo", GearmanSerializer.Utf8.Deserialize(buffer.WrittenMemory));
        Assert.Throws<DecoderFallbackException>(() => GearmanSerializer.Utf8.Deserialize(new byte[] { 0xff, 0xfe }));
    }

    [Fact]
    public void Json_rejects_a_null_type_info()
        => Assert.Throws<ArgumentNullException>(() => GearmanSerializer.Json<Order>(null!));
}
