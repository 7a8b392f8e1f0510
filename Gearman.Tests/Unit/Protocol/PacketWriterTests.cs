using System.Buffers;
using Gearman.Reactive;
using Gearman.Reactive.Protocol;
using Xunit;
using static Gearman.Tests.Unit.Protocol.TestSequence;

namespace Gearman.Tests.Unit.Protocol;

[Trait("Category", "Unit")]
public sealed class PacketWriterTests
{
    public static TheoryData<int> DefinedTypes => new(Enumerable.Range(1, 42));

    public static TheoryData<int> SpanSizes => new(1, 2, 5, 12, 13, 64, 4096);

    [Fact]
    public void Submit_job_bytes_are_exact()
    {
        var bytes = Packets.Write(PacketMagic.Request, PacketType.SubmitJob, [Bytes("rev"), [], Bytes("test")]);

        Assert.Equal(Concat([0, (byte)'R', (byte)'E', (byte)'Q', 0, 0, 0, 7, 0, 0, 0, 9], Bytes("rev\0\0test")), bytes);
    }

    [Fact]
    public void Can_do_has_no_trailing_NUL()
    {
        var output = new ArrayBufferWriter<byte>();
        PacketWriter.Write(output, PacketMagic.Request, PacketType.CanDo, Bytes("reverse"));

        Assert.Equal(Concat([0, (byte)'R', (byte)'E', (byte)'Q', 0, 0, 0, 1, 0, 0, 0, 7], Bytes("reverse")), output.WrittenSpan.ToArray());
    }

    [Fact]
    public void Empty_packets_are_just_a_header()
    {
        var output = new ArrayBufferWriter<byte>();
        PacketWriter.Write(output, PacketMagic.Response, PacketType.Noop);
        PacketWriter.Write(output, PacketMagic.Request, PacketType.EchoReq, ReadOnlySpan<byte>.Empty);

        Assert.Equal(
            new byte[] { 0, (byte)'R', (byte)'E', (byte)'S', 0, 0, 0, 6, 0, 0, 0, 0, 0, (byte)'R', (byte)'E', (byte)'Q', 0, 0, 0, 16, 0, 0, 0, 0 },
            output.WrittenSpan.ToArray());
    }

    [Fact]
    public void Status_res_unique_bytes_are_exact()
    {
        var bytes = Packets.Write(PacketMagic.Response, PacketType.StatusResUnique, [Bytes("u1"), Bytes("1"), Bytes("0"), Bytes("3"), Bytes("10"), Bytes("2")]);

        Assert.Equal(Concat([0, (byte)'R', (byte)'E', (byte)'S', 0, 0, 0, 42, 0, 0, 0, 13], Bytes("u1\0" + "1\0" + "0\0" + "3\0" + "10\0" + "2")), bytes);
    }

    [Fact]
    public void WriteHeader_is_big_endian()
    {
        var header = new byte[12];
        PacketWriter.WriteHeader(header, PacketMagic.Request, (PacketType)0x01020304, 0xA0B0C0D0);

        Assert.Equal(new byte[] { 0, 0x52, 0x45, 0x51, 1, 2, 3, 4, 0xA0, 0xB0, 0xC0, 0xD0 }, header);
    }

    [Theory]
    [MemberData(nameof(DefinedTypes))]
    public void Every_type_round_trips_through_writer_reader_and_split(int type)
    {
        var layout = PacketLayout.Of((PacketType)type);
        var sets = new List<byte[][]>
        {
            FieldsFor(layout, i => "field" + i, "da\0ta\0"),
            FieldsFor(layout, _ => string.Empty, string.Empty),
            FieldsFor(layout, i => new string((char)('a' + i), i + 1), "\0"),
        };

        foreach (var magic in new[] { PacketMagic.Request, PacketMagic.Response })
        {
            foreach (var fields in sets)
            {
                var bytes = Packets.Write(magic, (PacketType)type, fields);
                Assert.Equal(fields.Sum(f => f.Length) + Math.Max(0, fields.Length - 1), bytes.Length - 12);

                foreach (var sequence in Splits(bytes, maxLengthForTriples: 24))
                {
                    var buffer = sequence;
                    Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref buffer, 1 << 16, out var packet, out var declared));
                    Assert.True(buffer.IsEmpty);
                    Assert.Equal(magic, packet.Magic);
                    Assert.Equal((PacketType)type, packet.Type);
                    Assert.Equal((uint)(bytes.Length - 12), declared);

                    Assert.True(packet.TrySplit(out var split));
                    Assert.Equal(layout.Fields, split.Count);
                    for (int i = 0; i < fields.Length; i++)
                    {
                        Assert.Equal(fields[i], split.Slice(packet.Body, i).ToArray());
                    }
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(SpanSizes))]
    public void Small_spans_give_the_same_bytes_for_every_overload(int maxSpan)
    {
        byte[][] fields = [Bytes("function"), Bytes("unique"), Bytes("a"), Bytes("bc"), Bytes("d"), Bytes("data\0with\0NULs and more than a few bytes")];
        for (int n = 0; n <= fields.Length; n++)
        {
            var expected = Packets.Write(PacketMagic.Request, PacketType.SubmitJob, fields[..n]);
            var output = new TestBufferWriter(maxSpan);
            Packets.Write(output, PacketMagic.Request, PacketType.SubmitJob, fields[..n]);

            Assert.Equal(expected, output.WrittenArray);
        }
    }

    [Theory]
    [InlineData(64 * 1024, 1)]
    [InlineData(64 * 1024, 7)]
    [InlineData(64 * 1024, 4096)]
    [InlineData(1024 * 1024, 1000)]
    [InlineData(1024 * 1024, 65536)]
    public void Large_data_is_written_across_small_spans(int size, int maxSpan)
    {
        var data = new byte[size];
        new Random(size ^ maxSpan).NextBytes(data);
        var output = new TestBufferWriter(maxSpan);

        PacketWriter.Write(output, PacketMagic.Request, PacketType.SubmitJobBg, Bytes("fn"), Bytes("uniq"), data);

        var bytes = output.WrittenArray;
        Assert.Equal(12 + 3 + 5 + size, bytes.Length);
        Assert.True(output.GetSpanCalls >= size / maxSpan, "the data part is written in chunks, not through one large span");
        Assert.True(output.SizeHints.Max() <= 12 + 3 + 5, "only the header and the small fields need a contiguous span");

        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref buffer, (uint)size + 100, out var packet, out _));
        Assert.True(packet.TrySplit(out var fields));
        Assert.Equal("fn", Text(fields.Slice(packet.Body, 0)));
        Assert.Equal("uniq", Text(fields.Slice(packet.Body, 1)));
        Assert.True(data.AsSpan().SequenceEqual(fields.Slice(packet.Body, 2).ToArray()));
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(3, 10)]
    [InlineData(100, 65536)]
    public void Sequence_data_is_forwarded_segment_by_segment(int maxSpan, int size)
    {
        var data = new byte[size];
        new Random(size).NextBytes(data);
        var chunks = data.Chunk(777).Select(c => c.ToArray()).ToList();
        chunks.Insert(0, []);
        var sequence = Create([.. chunks]);

        var output = new TestBufferWriter(maxSpan);
        PacketWriter.Write(output, PacketMagic.Response, PacketType.WorkData, Bytes("H:host:42"), sequence);

        var expected = Packets.Write(PacketMagic.Response, PacketType.WorkData, [Bytes("H:host:42"), data]);
        Assert.Equal(expected, output.WrittenArray);
    }

    [Fact]
    public void A_body_over_4_GiB_is_refused_before_anything_is_written()
    {
        // 4097 segments that share one 1 MiB array: a sequence longer than uint.MaxValue without 4 GiB of memory.
        var data = Repeat(new byte[1 << 20], 4097);
        var output = new TestBufferWriter(64);

        Assert.Throws<GearmanProtocolException>(() => PacketWriter.Write(output, PacketMagic.Request, PacketType.WorkData, Bytes("H"), data));
        Assert.Equal(0, output.WrittenCount);
    }

    [Fact]
    public void A_body_of_exactly_uint_max_is_not_refused_by_the_size_check()
    {
        // 4095 full MiB plus (1 MiB - 1 - 2) bytes + "H\0" = uint.MaxValue: the header must carry 0xFFFFFFFF.
        var chunk = new byte[1 << 20];
        var segments = Enumerable.Repeat(chunk, 4095).Append(new byte[(1 << 20) - 1 - 2]).ToArray();
        var data = Create(segments);
        var output = new HeaderOnlyWriter();

        Assert.Throws<StopWritingException>(() => PacketWriter.Write(output, PacketMagic.Request, PacketType.WorkData, Bytes("H"), data));
        Assert.Equal(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }, output.Header[8..12]);
    }

    private static byte[][] FieldsFor(PacketLayout layout, Func<int, string> field, string last)
    {
        var fields = new byte[layout.Fields][];
        for (int i = 0; i < layout.Fields; i++)
        {
            // The last field may hold NULs only when it is opaque data.
            fields[i] = Bytes(i == layout.Fields - 1 && layout.HasData ? last : field(i));
        }

        return fields;
    }

    private sealed class StopWritingException : Exception;

    /// <summary>Keeps the header and stops the write once the header has been committed.</summary>
    private sealed class HeaderOnlyWriter : IBufferWriter<byte>
    {
        private byte[] _span = [];

        public byte[] Header { get; private set; } = [];

        public void Advance(int count)
        {
            Header = _span[..count];
            throw new StopWritingException();
        }

        public Memory<byte> GetMemory(int sizeHint = 0) => _span = new byte[Math.Max(sizeHint, 16)];

        public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
    }
}
