using Gearman.Reactive.Protocol;
using Gearman.Server.Security;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Unit.Security;

/// <summary>How replies are cut into TLS records: every record ends at a packet boundary or inside a packet.</summary>
[Trait("Category", "Unit")]
public sealed class PacketRecordStreamTests
{
    [Fact]
    public async Task Each_packet_of_a_batch_becomes_its_own_write()
    {
        byte[] status = Response(PacketType.WorkStatus, "H:1\01\02");
        byte[] complete = Response(PacketType.WorkComplete, "H:1\0done");
        var (stream, writes) = Create();

        await stream.WriteAsync((byte[])[.. status, .. complete]);

        Assert.Equal([status, complete], writes);
    }

    [Fact]
    public async Task A_packet_split_across_writes_continues_and_the_next_one_starts_a_record()
    {
        byte[] first = Response(PacketType.WorkData, "H:1\0abcdefgh");
        byte[] second = Response(PacketType.Noop, string.Empty);
        var (stream, writes) = Create();

        await stream.WriteAsync(first.AsMemory(0, 15));
        await stream.WriteAsync((byte[])[.. first[15..], .. second]);

        Assert.Equal([first[..15], first[15..], second], writes);
    }

    [Fact]
    public async Task A_header_split_across_writes_is_sized_once_complete()
    {
        byte[] first = Response(PacketType.WorkData, "H:1\0abcdefgh");
        byte[] second = Response(PacketType.Noop, string.Empty);
        var (stream, writes) = Create();

        await stream.WriteAsync(first.AsMemory(0, 3));
        await stream.WriteAsync(first.AsMemory(3, 4));
        await stream.WriteAsync((byte[])[.. first[7..], .. second]);

        Assert.Equal([first[..3], first[3..7], first[7..], second], writes);
    }

    [Fact]
    public async Task Text_replies_are_written_up_to_the_next_packet()
    {
        byte[] text = "OK 1.1.20\n"u8.ToArray();
        byte[] packet = Response(PacketType.EchoRes, "x");
        var (stream, writes) = Create();

        await stream.WriteAsync((byte[])[.. text, .. packet, .. text]);

        Assert.Equal([text, packet, text], writes);
    }

    private static (PacketRecordStream Stream, List<byte[]> Writes) Create()
    {
        var writes = new List<byte[]>();
        return (new PacketRecordStream(new RecordingStream(writes)), writes);
    }

    private static byte[] Response(PacketType type, string body)
    {
        byte[] request = RawGearmanConnection.Encode(type, body);
        "\0RES"u8.CopyTo(request);
        return request;
    }

    private sealed class RecordingStream(List<byte[]> writes) : MemoryStream
    {
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            writes.Add(buffer.ToArray());
            return ValueTask.CompletedTask;
        }
    }
}
