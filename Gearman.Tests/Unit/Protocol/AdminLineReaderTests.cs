using System.Buffers;
using Gearman.Reactive.Protocol;
using Xunit;
using static Gearman.Tests.Unit.Protocol.TestSequence;

namespace Gearman.Tests.Unit.Protocol;

[Trait("Category", "Unit")]
public sealed class AdminLineReaderTests
{
    private const int Max = 64;

    public static TheoryData<string, string, bool> Lines => new()
    {
        { "status\r\n", "status", true },
        { "status\n", "status", false },
        { "\n", string.Empty, false },
        { "\r\n", string.Empty, true },
        { "a\rb\n", "a\rb", false },
        { "a\rb\r\n", "a\rb", true },
        { "\r\r\n", "\r", true },
        { "\r\rx\n", "\r\rx", false },
        { "create function newg\n", "create function newg", false },
        { "   \r\n", "   ", true },
        { "a\tb\0c\n", "a\tb\0c", false },
    };

    [Theory]
    [MemberData(nameof(Lines))]
    public void Reads_a_line_without_its_end_at_every_segment_boundary(string input, string expected, bool crlf)
    {
        var bytes = Bytes(input);
        foreach (var sequence in Splits(bytes))
        {
            var buffer = sequence;
            Assert.Equal(AdminLineStatus.Line, AdminLineReader.TryReadLine(ref buffer, Max, out var line, out var endedWithCrLf));
            Assert.Equal(expected, Text(line));
            Assert.Equal(crlf, endedWithCrLf);
            Assert.True(buffer.IsEmpty);
            Assert.Equal(sequence.End, buffer.End);
        }
    }

    [Theory]
    [MemberData(nameof(Lines))]
    public void Byte_at_a_time_is_incomplete_until_the_LF_and_consumes_nothing(string input, string expected, bool crlf)
    {
        var bytes = Bytes(input);
        for (int k = 0; k < bytes.Length; k++)
        {
            foreach (var prefix in new[] { new ReadOnlySequence<byte>(bytes[..k]), ByteAtATime(bytes[..k]) })
            {
                var buffer = prefix;
                Assert.Equal(AdminLineStatus.Incomplete, AdminLineReader.TryReadLine(ref buffer, Max, out var line, out var endedWithCrLf));
                Assert.Equal(prefix.Start, buffer.Start);
                Assert.Equal(prefix.End, buffer.End);
                Assert.True(line.IsEmpty);
                Assert.False(endedWithCrLf);
            }
        }

        var whole = ByteAtATime(bytes);
        Assert.Equal(AdminLineStatus.Line, AdminLineReader.TryReadLine(ref whole, Max, out var last, out var ended));
        Assert.Equal(expected, Text(last));
        Assert.Equal(crlf, ended);
    }

    [Fact]
    public void Pipelined_lines_are_read_in_order_and_a_partial_one_is_kept()
    {
        var bytes = Bytes("status\r\nworkers\n\nversion\r\nmaxq");
        foreach (var sequence in Splits(bytes, maxLengthForTriples: 0))
        {
            var buffer = sequence;
            var lines = new List<(string, bool)>();
            while (AdminLineReader.TryReadLine(ref buffer, Max, out var line, out var crlf) == AdminLineStatus.Line)
            {
                lines.Add((Text(line), crlf));
            }

            Assert.Equal([("status", true), ("workers", false), (string.Empty, false), ("version", true)], lines);
            Assert.Equal("maxq", Text(buffer));
        }
    }

    [Fact]
    public void A_line_is_a_slice_of_the_buffer()
    {
        var bytes = Bytes("ab\n");
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Equal(AdminLineStatus.Line, AdminLineReader.TryReadLine(ref buffer, Max, out var line, out _));

        bytes[0] = (byte)'A';
        Assert.Equal("Ab", Text(line));
    }

    [Fact]
    public void A_line_of_exactly_the_maximum_is_accepted_with_either_ending_at_every_boundary()
    {
        const int max = 8;
        foreach (var input in new[] { "12345678\n", "12345678\r\n", "1234567\r\r\n" })
        {
            var bytes = Bytes(input);
            foreach (var sequence in Splits(bytes))
            {
                var buffer = sequence;
                Assert.Equal(AdminLineStatus.Line, AdminLineReader.TryReadLine(ref buffer, max, out var line, out _));
                Assert.Equal(max, line.Length);
            }

            // Never TooLong on the way there: the bytes so far could still become a valid line.
            for (int k = 0; k < bytes.Length; k++)
            {
                var prefix = new ReadOnlySequence<byte>(bytes[..k]);
                Assert.Equal(AdminLineStatus.Incomplete, AdminLineReader.TryReadLine(ref prefix, max, out _, out _));
            }
        }
    }

    [Fact]
    public void A_CR_that_may_still_end_a_maximal_line_is_found_behind_empty_segments()
    {
        var buffer = Create([], [(byte)'\r']);
        Assert.Equal(AdminLineStatus.Incomplete, AdminLineReader.TryReadLine(ref buffer, 0, out _, out _));

        buffer = Create([], [(byte)'x']);
        Assert.Equal(AdminLineStatus.TooLong, AdminLineReader.TryReadLine(ref buffer, 0, out _, out _));

        buffer = Create([], [(byte)'\r'], [], [(byte)'\n']);
        Assert.Equal(AdminLineStatus.Line, AdminLineReader.TryReadLine(ref buffer, 0, out var line, out var crlf));
        Assert.True(line.IsEmpty);
        Assert.True(crlf);
    }

    [Theory]
    [InlineData("123456789\n")]
    [InlineData("123456789\r\n")]
    [InlineData("12345678\r\r\n")]
    [InlineData("12345678x\n")]
    public void A_line_over_the_maximum_is_TooLong_and_consumes_nothing(string input)
    {
        const int max = 8;
        foreach (var sequence in Splits(Bytes(input)))
        {
            var buffer = sequence;
            Assert.Equal(AdminLineStatus.TooLong, AdminLineReader.TryReadLine(ref buffer, max, out var line, out _));
            Assert.Equal(sequence.Start, buffer.Start);
            Assert.Equal(sequence.Length, buffer.Length);
            Assert.True(line.IsEmpty);
        }
    }

    [Theory]
    [InlineData("123456789")]
    [InlineData("12345678x")]
    [InlineData("12345678\r\r")]
    [InlineData("123456789\r")]
    public void Too_many_bytes_without_LF_are_TooLong_before_the_LF_arrives(string input)
    {
        const int max = 8;
        foreach (var sequence in Splits(Bytes(input)))
        {
            var buffer = sequence;
            Assert.Equal(AdminLineStatus.TooLong, AdminLineReader.TryReadLine(ref buffer, max, out _, out _));
            Assert.Equal(sequence.Start, buffer.Start);
        }
    }

    [Fact]
    public void An_unlimited_maximum_does_not_overflow()
    {
        foreach (var input in new[] { "status\n", "status\r\n" })
        {
            var buffer = new ReadOnlySequence<byte>(Bytes(input));
            Assert.Equal(AdminLineStatus.Line, AdminLineReader.TryReadLine(ref buffer, int.MaxValue, out var line, out _));
            Assert.Equal("status", Text(line));
        }
    }

    [Fact]
    public void A_maximum_of_zero_accepts_only_empty_lines()
    {
        var buffer = new ReadOnlySequence<byte>(Bytes("\r\n\nx\n"));
        Assert.Equal(AdminLineStatus.Line, AdminLineReader.TryReadLine(ref buffer, 0, out _, out var crlf));
        Assert.True(crlf);
        Assert.Equal(AdminLineStatus.Line, AdminLineReader.TryReadLine(ref buffer, 0, out _, out crlf));
        Assert.False(crlf);
        Assert.Equal(AdminLineStatus.TooLong, AdminLineReader.TryReadLine(ref buffer, 0, out _, out _));
    }
}
