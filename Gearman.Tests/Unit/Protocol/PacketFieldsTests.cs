using System.Buffers;
using Gearman.Reactive.Protocol;
using Xunit;
using static Gearman.Tests.Unit.Protocol.TestSequence;

namespace Gearman.Tests.Unit.Protocol;

[Trait("Category", "Unit")]
public sealed class PacketFieldsTests
{
    public static TheoryData<int> DefinedTypes => new(Enumerable.Range(1, 42));

    public static TheoryData<string, int, string[]> Bodies => new()
    {
        { "submit_job", 3, ["rev", string.Empty, "test"] },
        { "all empty", 3, [string.Empty, string.Empty, string.Empty] },
        { "NULs in the last field", 3, ["f", "u", "\0a\0\0b\0"] },
        { "one field, empty", 1, [string.Empty] },
        { "one field with NULs", 1, ["\0\0"] },
        { "two fields", 2, ["H:host:1", "50"] },
        { "eight fields", 8, ["f", "u", "1", "2", "3", "4", "5", "da\0ta"] },
        { "trailing NUL kept in the last field", 2, ["H:x:1", "\0"] },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public void Splits_span_and_sequence_alike_at_every_segment_boundary(string name, int count, string[] expected)
    {
        _ = name;
        var body = Bytes(string.Join('\0', expected));

        Assert.True(PacketFields.TrySplit(count, body.AsSpan(), out var spanFields));
        AssertFields(expected, spanFields, body);

        foreach (var sequence in Splits(body))
        {
            Assert.True(PacketFields.TrySplit(count, sequence, out var fields));
            Assert.Equal(count, fields.Count);
            for (int i = 0; i < count; i++)
            {
                Assert.Equal(spanFields[i], fields[i]);
                Assert.Equal(expected[i], Text(fields.Slice(sequence, i)));
            }
        }
    }

    [Fact]
    public void Field_ranges_are_offsets_into_the_body()
    {
        var body = Bytes("ab\0\0cde");
        Assert.True(PacketFields.TrySplit(3, body.AsSpan(), out var fields));

        Assert.Equal(new FieldRange(0, 2), fields[0]);
        Assert.Equal(new FieldRange(3, 0), fields[1]);
        Assert.Equal(new FieldRange(4, 3), fields[2]);
        Assert.Equal(7, fields[2].End);
    }

    [Theory]
    [MemberData(nameof(DefinedTypes))]
    public void Too_few_separators_fail_for_every_type_with_more_than_one_field(int type)
    {
        int count = PacketLayout.Of((PacketType)type).Fields;
        for (int nuls = 0; nuls < count - 1; nuls++)
        {
            var body = Bytes(string.Join('\0', Enumerable.Range(0, nuls + 1).Select(i => "f" + i)));
            foreach (var sequence in Splits(body, maxLengthForTriples: 0))
            {
                Assert.False(PacketFields.TrySplit((PacketType)type, sequence, out var fields));
                Assert.Equal(0, fields.Count);
            }

            Assert.False(PacketFields.TrySplit(count, body.AsSpan(), out _));
        }

        if (count >= 2)
        {
            Assert.False(PacketFields.TrySplit((PacketType)type, ReadOnlySequence<byte>.Empty, out _));
        }
    }

    [Theory]
    [MemberData(nameof(DefinedTypes))]
    public void Extra_separators_go_into_the_last_field(int type)
    {
        int count = PacketLayout.Of((PacketType)type).Fields;
        if (count == 0) return;

        var parts = Enumerable.Range(0, count - 1).Select(i => "f" + i).Append("x\0y\0").ToArray();
        var body = Bytes(string.Join('\0', parts));
        foreach (var sequence in Splits(body, maxLengthForTriples: 0))
        {
            Assert.True(PacketFields.TrySplit((PacketType)type, sequence, out var fields));
            Assert.Equal(count, fields.Count);
            Assert.Equal("x\0y\0", Text(fields.Slice(sequence, count - 1)));
        }
    }

    [Theory]
    [MemberData(nameof(DefinedTypes))]
    public void Zero_argument_types_ignore_any_body(int type)
    {
        if (PacketLayout.Of((PacketType)type).Fields != 0) return;

        foreach (var body in new[] { string.Empty, "junk", "\0", "a\0b\0c" })
        {
            foreach (var sequence in Splits(Bytes(body), maxLengthForTriples: 0))
            {
                Assert.True(PacketFields.TrySplit((PacketType)type, sequence, out var fields));
                Assert.Equal(0, fields.Count);
            }

            // Framed by its declared size, the ignored body does not disturb the next packet.
            var buffer = new ReadOnlySequence<byte>(Concat(Packets.Raw((uint)type, Bytes(body)), Packets.Raw(1, "fn")));
            Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref buffer, 100, out var packet, out _));
            Assert.True(packet.TrySplit(out var none));
            Assert.Equal(0, none.Count);
            Assert.Equal(PacketReadStatus.Packet, PacketReader.TryRead(ref buffer, 100, out var next, out _));
            Assert.True(next.TrySplit(out var one));
            Assert.Equal("fn", Text(one.Slice(next.Body, 0)));
        }
    }

    [Fact]
    public void One_field_types_take_the_whole_body()
    {
        foreach (var body in new[] { string.Empty, "reverse", "a\0b" })
        {
            foreach (var sequence in Splits(Bytes(body), maxLengthForTriples: 0))
            {
                Assert.True(PacketFields.TrySplit(PacketType.CanDo, sequence, out var fields));
                Assert.Equal(1, fields.Count);
                Assert.Equal(body, Text(fields.Slice(sequence, 0)));
            }
        }
    }

    [Fact]
    public void Indexing_past_the_fields_throws()
    {
        var body = Bytes("a\0b");
        Assert.True(PacketFields.TrySplit(2, body.AsSpan(), out var fields));

        Assert.Throws<ArgumentOutOfRangeException>(() => fields[2]);
        Assert.Throws<ArgumentOutOfRangeException>(() => fields[-1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => default(PacketFields)[0]);
    }

    private static void AssertFields(string[] expected, PacketFields fields, byte[] body)
    {
        Assert.Equal(expected.Length, fields.Count);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], Text(fields.Slice(body.AsSpan(), i)));
        }
    }
}
