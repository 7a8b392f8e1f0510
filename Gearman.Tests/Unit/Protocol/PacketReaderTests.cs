using System.Buffers;
using Gearman.Reactive.Protocol;
using Xunit;
using static Gearman.Tests.Unit.Protocol.TestSequence;

namespace Gearman.Tests.Unit.Protocol;

[Trait("Category", "Unit")]
public sealed class PacketReaderTests
{
    private const uint Max = 1 << 20;

    /// <summary>Packets of interesting shapes: empty body, text fields, NULs in the data, a body of only NULs.</summary>
    public static TheoryData<string, uint, string> Samples => new()
    {
        { "noop, empty body", 6u, string.Empty },
        { "echo of nothing", 16u, string.Empty },
        { "can_do", 1u, "reverse" },
        { "submit_job", 7u, "rev\0\0test" },
        { "work_complete, NULs in data", 13u, "H:lap:1\0a\0b\0\0c\0" },
        { "only NULs", 7u, "\0\0\0\0" },
        { "undefined type 1000", 1000u, "x\0y" },
    };

    [Theory]
    [MemberData(nameof(Samples))]
    public void Byte_at_a_time_is_incomplete_until_the_last_byte_and_consumes_nothing(string name, uint type, string body)
    {
        _ = name;
        var bytes = Packets.Raw(type, Bytes(body));

        for (int k = 0; k < bytes.Length; k++)
        {
            foreach (var prefix in new[] { new ReadOnlySequence<byte>(bytes[..k]), ByteAtATime(bytes[..k]) })
            {
                var buffer = prefix;
                var status = PacketReader.TryRead(ref buffer, Max, out var packet, out _);

                Assert.Equal(PacketReadStatus.Incomplete, status);
                Assert.Equal(prefix.Start, buffer.Start);
                Assert.Equal(prefix.End, buffer.End);
                Assert.Equal(default, packet.Type);
                Assert.True(packet.Body.IsEmpty);
            }
        }

        var whole = ByteAtATime(bytes);
        Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref whole, Max, out var read, out var declared));
        Assert.True(whole.IsEmpty);
        Assert.Equal((PacketType)type, read.Type);
        Assert.Equal(PacketMagic.Request, read.Magic);
        Assert.Equal((uint)body.Length, declared);
        Assert.Equal(body, Text(read.Body));
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void Packet_split_at_every_boundary_reads_the_same(string name, uint type, string body)
    {
        _ = name;
        var bytes = Packets.Raw(type, Bytes(body));
        int cases = 0;

        foreach (var sequence in Splits(bytes))
        {
            var buffer = sequence;
            Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref buffer, Max, out var packet, out var declared));
            Assert.True(buffer.IsEmpty);
            Assert.Equal(sequence.End, buffer.End);
            Assert.Equal((PacketType)type, packet.Type);
            Assert.Equal((uint)body.Length, declared);
            Assert.Equal(body, Text(packet.Body));
            cases++;
        }

        Assert.True(cases > bytes.Length);
    }

    [Fact]
    public void Several_packets_back_to_back_are_read_in_order_at_every_split()
    {
        var all = Concat(
            Packets.Raw(16, "ping"),
            Packets.Raw(6),
            Packets.Raw(Packets.Res, 13, 9, Bytes("H:x:1\0ok\0")),
            Packets.Raw(1, "f"));
        var expected = new (PacketMagic Magic, PacketType Type, string Body)[]
        {
            (PacketMagic.Request, PacketType.EchoReq, "ping"),
            (PacketMagic.Request, PacketType.Noop, string.Empty),
            (PacketMagic.Response, PacketType.WorkComplete, "H:x:1\0ok\0"),
            (PacketMagic.Request, PacketType.CanDo, "f"),
        };

        foreach (var sequence in Splits(all, maxLengthForTriples: 0))
        {
            var buffer = sequence;
            foreach (var (magic, type, body) in expected)
            {
                Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref buffer, Max, out var packet, out _));
                Assert.Equal(magic, packet.Magic);
                Assert.Equal(type, packet.Type);
                Assert.Equal(body, Text(packet.Body));
            }

            Assert.True(buffer.IsEmpty);
            Assert.Equal(PacketReadStatus.Incomplete, PacketReader.TryRead(ref buffer, Max, out _, out _));
        }
    }

    [Fact]
    public void A_trailing_partial_packet_stays_in_the_buffer()
    {
        var second = Packets.Raw(7, "f", "u", "data");
        for (int cut = 0; cut < second.Length; cut++)
        {
            var bytes = Concat(Packets.Raw(16, "a"), second[..cut]);
            var buffer = new ReadOnlySequence<byte>(bytes);

            Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref buffer, Max, out var first, out _));
            Assert.Equal("a", Text(first.Body));
            var rest = buffer;
            Assert.Equal(PacketReadStatus.Incomplete, PacketReader.TryRead(ref buffer, Max, out _, out _));
            Assert.Equal(rest.Start, buffer.Start);
            Assert.Equal(second[..cut], buffer.ToArray());
        }
    }

    [Fact]
    public void The_body_is_a_slice_of_the_buffer_not_a_copy()
    {
        var bytes = Packets.Raw(16, "payload");
        var buffer = new ReadOnlySequence<byte>(bytes);

        Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref buffer, Max, out var packet, out _));
        bytes[12] = (byte)'P';
        Assert.Equal("Payload", Text(packet.Body));
    }

    [Fact]
    public void Response_magic_is_framed_as_Response()
    {
        var buffer = new ReadOnlySequence<byte>(Packets.Raw(Packets.Res, 8, 5, Bytes("H:a:1")));

        Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref buffer, Max, out var packet, out _));
        Assert.Equal(PacketMagic.Response, packet.Magic);
        Assert.Equal(PacketType.JobCreated, packet.Type);
        Assert.Equal("H:a:1", Text(packet.Body));
    }

    [Theory]
    [InlineData(new byte[] { 0, (byte)'R', (byte)'E', (byte)'X' })]
    [InlineData(new byte[] { 0, (byte)'r', (byte)'e', (byte)'q' })]
    [InlineData(new byte[] { 1, (byte)'R', (byte)'E', (byte)'Q' })]
    [InlineData(new byte[] { (byte)'R', (byte)'E', (byte)'Q', 0 })]
    [InlineData(new byte[] { 0, 0, 0, 0 })]
    [InlineData(new byte[] { (byte)'G', (byte)'E', (byte)'T', (byte)' ' })]
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF })]
    public void Bad_magic_is_InvalidMagic_and_consumes_nothing(byte[] magic)
    {
        var bytes = Packets.Raw(magic, 16, 2, Bytes("hi"));
        foreach (var sequence in Splits(bytes))
        {
            var buffer = sequence;
            Assert.Equal(PacketReadStatus.InvalidMagic, PacketReader.TryRead(ref buffer, Max, out var packet, out _));
            Assert.Equal(sequence.Start, buffer.Start);
            Assert.Equal(sequence.Length, buffer.Length);
            Assert.True(packet.Body.IsEmpty);
        }

        // A bad magic is reported as soon as the header is in, without waiting for the body.
        var headerOnly = new ReadOnlySequence<byte>(bytes[..12]);
        Assert.Equal(PacketReadStatus.InvalidMagic, PacketReader.TryRead(ref headerOnly, Max, out _, out _));
    }

    [Theory]
    [InlineData(0u, 1u)]
    [InlineData(16u, 17u)]
    [InlineData(1024u, 0xFFFFFFF0u)]
    [InlineData(uint.MaxValue - 1, uint.MaxValue)]
    public void Declared_size_over_the_limit_is_TooLarge_as_soon_as_the_header_is_in(uint maxBody, uint declared)
    {
        var header = Packets.Raw(Packets.Req, 7, declared, []);
        foreach (var sequence in Splits(header))
        {
            var buffer = sequence;
            Assert.Equal(PacketReadStatus.TooLarge, PacketReader.TryRead(ref buffer, maxBody, out var packet, out var declaredSize));
            Assert.Equal(declared, declaredSize);
            Assert.Equal(sequence.Start, buffer.Start);
            Assert.Equal(sequence.Length, buffer.Length);
            Assert.True(packet.Body.IsEmpty);
        }

        // Fewer than 12 bytes cannot be judged yet.
        var partial = new ReadOnlySequence<byte>(header[..11]);
        Assert.Equal(PacketReadStatus.Incomplete, PacketReader.TryRead(ref partial, maxBody, out _, out _));
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(1u)]
    [InlineData(300u)]
    public void Declared_size_equal_to_the_limit_is_accepted(uint size)
    {
        var bytes = Packets.Raw(16, new byte[size]);
        var buffer = new ReadOnlySequence<byte>(bytes);

        Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref buffer, size, out var packet, out var declared));
        Assert.Equal(size, declared);
        Assert.Equal(size, (uint)packet.Body.Length);
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void A_huge_declared_size_under_an_unlimited_maximum_waits_for_the_body()
    {
        var buffer = new ReadOnlySequence<byte>(Packets.Raw(Packets.Req, 16, uint.MaxValue, Bytes("some")));
        var before = buffer;

        Assert.Equal(PacketReadStatus.Incomplete, PacketReader.TryRead(ref buffer, uint.MaxValue, out _, out var declared));
        Assert.Equal(uint.MaxValue, declared);
        Assert.Equal(before.Start, buffer.Start);
        Assert.Equal(before.Length, buffer.Length);
    }

    [Theory]
    [InlineData(0u)]
    [InlineData(43u)]
    [InlineData(1000u)]
    [InlineData(uint.MaxValue)]
    public void Undefined_types_are_framed_and_left_to_the_server(uint type)
    {
        var buffer = new ReadOnlySequence<byte>(Concat(Packets.Raw(type, "a\0b"), Packets.Raw(6)));

        Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref buffer, Max, out var packet, out _));
        Assert.Equal((PacketType)type, packet.Type);
        Assert.Equal("a\0b", Text(packet.Body));
        Assert.True(packet.TrySplit(out var fields));
        Assert.Equal(0, fields.Count);

        // The stream stays in sync: the next packet follows.
        Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref buffer, Max, out var next, out _));
        Assert.Equal(PacketType.Noop, next.Type);
    }

    [Fact]
    public void The_declared_size_frames_the_body_even_when_it_lacks_separators()
    {
        // WORK_STATUS with a single NUL followed by a packet full of NULs: the split must not borrow them (protocol.md §1.1 BUG).
        var buffer = new ReadOnlySequence<byte>(Concat(Packets.Raw(12, "H:x:1\0" + "50"), Packets.Raw(7, "\0\0\0")));

        Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref buffer, Max, out var packet, out _));
        Assert.False(packet.TrySplit(out _));
        Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref buffer, Max, out var next, out _));
        Assert.Equal(PacketType.SubmitJob, next.Type);
        Assert.True(next.TrySplit(out var fields));
        Assert.Equal(3, fields.Count);
    }

    [Fact]
    public void Binary_packets_start_with_NUL_and_admin_lines_with_anything_else()
    {
        foreach (var sequence in Splits(Packets.Raw(6)))
        {
            Assert.True(PacketReader.StartsWithBinaryPacket(sequence));
        }

        foreach (var sequence in Splits(Bytes("version\n")))
        {
            Assert.False(PacketReader.StartsWithBinaryPacket(sequence));
        }

        Assert.False(PacketReader.StartsWithBinaryPacket(new ReadOnlySequence<byte>([0xFF])));
        Assert.False(PacketReader.StartsWithBinaryPacket(new ReadOnlySequence<byte>([(byte)'\r'])));
        Assert.True(PacketReader.StartsWithBinaryPacket(new ReadOnlySequence<byte>([0])));
    }

    [Fact]
    public void FrameLength_is_header_plus_declared_body_once_the_header_is_in()
    {
        // Declared 70,000 bytes, none of them arrived yet: the reader can size its buffer now.
        var header = Packets.Raw(Packets.Req, (uint)PacketType.SubmitJob, 70_000, []);
        Assert.Equal(12 + 70_000L, PacketReader.FrameLength(header));
        Assert.Equal(12L + uint.MaxValue, PacketReader.FrameLength(Packets.Raw(Packets.Res, (uint)PacketType.WorkComplete, uint.MaxValue, [])));
        Assert.Null(PacketReader.FrameLength(header.AsSpan(0, 11)));
        Assert.Null(PacketReader.FrameLength("status\nversion\n"u8));
    }

    [Fact]
    public void A_leading_empty_segment_does_not_hide_the_first_byte()
    {
        // A non-empty multi-segment sequence may start with an empty segment; FirstSpan alone is then empty.
        Assert.True(PacketReader.StartsWithBinaryPacket(Create([], [], [0, (byte)'R'])));
        Assert.False(PacketReader.StartsWithBinaryPacket(Create([], Bytes("version\n"))));
    }

    [Fact]
    public void Mixed_binary_and_text_on_one_stream_is_told_apart_at_each_boundary()
    {
        // Spec §1.1: ECHO_REQ, then "version\n", then ECHO_REQ on one connection.
        var all = Concat(Packets.Raw(16, "a"), Bytes("version\n"), Packets.Raw(16, "b"));
        foreach (var sequence in Splits(all, maxLengthForTriples: 0))
        {
            var buffer = sequence;
            var seen = new List<string>();
            while (!buffer.IsEmpty)
            {
                if (PacketReader.StartsWithBinaryPacket(buffer))
                {
                    Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref buffer, Max, out var packet, out _));
                    seen.Add("echo " + Text(packet.Body));
                }
                else
                {
                    Assert.Equal(AdminLineStatus.Line, AdminLineReader.TryReadLine(ref buffer, 100, out var line, out _));
                    seen.Add(Text(line));
                }
            }

            Assert.Equal(["echo a", "version", "echo b"], seen);
        }
    }
}
