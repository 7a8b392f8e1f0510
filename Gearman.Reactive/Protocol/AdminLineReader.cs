using System.Buffers;

namespace Gearman.Reactive.Protocol;

/// <summary>Outcome of <see cref="AdminLineReader.TryReadLine"/>.</summary>
internal enum AdminLineStatus
{
    /// <summary>No complete line yet.</summary>
    Incomplete,

    /// <summary>A line was read.</summary>
    Line,

    /// <summary>No line end within the allowed length.</summary>
    TooLong,
}

/// <summary>Frames admin text lines: a line ends at LF, and a CR before it is dropped (protocol.md §3).</summary>
internal static class AdminLineReader
{
    /// <summary>Reads one line from <paramref name="buffer"/>, without its CRLF or LF.</summary>
    /// <param name="buffer">Advanced past the line end when a line is returned.</param>
    /// <param name="maxLength">Longest line accepted, end excluded.</param>
    /// <param name="line">The line, a slice of <paramref name="buffer"/>.</param>
    /// <param name="endedWithCrLf">Whether the line ended in CRLF rather than a bare LF.</param>
    public static AdminLineStatus TryReadLine(ref ReadOnlySequence<byte> buffer, int maxLength, out ReadOnlySequence<byte> line, out bool endedWithCrLf)
    {
        line = default;
        endedWithCrLf = false;
        var newline = buffer.PositionOf((byte)'\n');
        long withCr = (long)maxLength + 1;
        if (newline is null)
        {
            // maxLength bytes and a CR may still become a line once the LF arrives.
            long length = buffer.Length;
            return length > withCr || (length == withCr && !EndsWithCr(buffer)) ? AdminLineStatus.TooLong : AdminLineStatus.Incomplete;
        }

        var content = buffer.Slice(0, newline.Value);
        if (content.Length > withCr) return AdminLineStatus.TooLong;
        if (content.Length > 0 && EndsWithCr(content))
        {
            content = content.Slice(0, content.Length - 1);
            endedWithCrLf = true;
        }

        if (content.Length > maxLength) return AdminLineStatus.TooLong;
        line = content;
        buffer = buffer.Slice(buffer.GetPosition(1, newline.Value));
        return AdminLineStatus.Line;
    }

    private static bool EndsWithCr(in ReadOnlySequence<byte> content)
    {
        if (content.IsSingleSegment) return content.FirstSpan[^1] == (byte)'\r';

        // CopyTo, not FirstSpan: a slice of a multi-segment sequence may start with an empty segment.
        Span<byte> last = stackalloc byte[1];
        content.Slice(content.Length - 1).CopyTo(last);
        return last[0] == (byte)'\r';
    }
}
