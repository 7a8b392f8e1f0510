using System.Buffers;
using System.Text;

namespace Gearman.Tests.Unit.Protocol;

/// <summary>Builds multi-segment <see cref="ReadOnlySequence{T}"/>s, as a pipe hands them out.</summary>
internal static class TestSequence
{
    /// <summary>A sequence whose segments are exactly <paramref name="segments"/> (empty ones included).</summary>
    public static ReadOnlySequence<byte> Create(params byte[][] segments)
    {
        if (segments.Length == 0) return ReadOnlySequence<byte>.Empty;
        if (segments.Length == 1) return new ReadOnlySequence<byte>(segments[0]);

        var first = new Segment(segments[0], 0);
        var last = first;
        for (int i = 1; i < segments.Length; i++) last = last.Append(segments[i]);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>A sequence of <paramref name="count"/> segments that all share <paramref name="chunk"/> (for huge lengths without huge memory).</summary>
    public static ReadOnlySequence<byte> Repeat(byte[] chunk, int count)
    {
        var first = new Segment(chunk, 0);
        var last = first;
        for (int i = 1; i < count; i++) last = last.Append(chunk);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>One segment per byte.</summary>
    public static ReadOnlySequence<byte> ByteAtATime(byte[] data)
        => Create(data.Select(b => new[] { b }).ToArray());

    /// <summary>
    /// Every way of cutting <paramref name="data"/> into pieces that a test should survive: one segment; two segments
    /// at every boundary; three segments at every pair of boundaries (for short data); one byte per segment; and
    /// the same with empty segments around and between.
    /// </summary>
    public static IEnumerable<ReadOnlySequence<byte>> Splits(byte[] data, int maxLengthForTriples = 64)
    {
        yield return new ReadOnlySequence<byte>(data);
        for (int i = 0; i <= data.Length; i++)
        {
            yield return Create(data[..i], data[i..]);
        }

        if (data.Length <= maxLengthForTriples)
        {
            for (int i = 1; i < data.Length; i++)
            {
                for (int j = i + 1; j < data.Length; j++)
                {
                    yield return Create(data[..i], data[i..j], data[j..]);
                }
            }
        }

        if (data.Length > 1)
        {
            yield return ByteAtATime(data);
            var withEmpties = new List<byte[]> { Array.Empty<byte>() };
            foreach (var b in data)
            {
                withEmpties.Add([b]);
                withEmpties.Add([]);
            }

            yield return Create([.. withEmpties]);
        }
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    public static byte[] Bytes(string ascii) => Encoding.Latin1.GetBytes(ascii);

    public static string Text(ReadOnlySequence<byte> bytes) => Encoding.Latin1.GetString(bytes.ToArray());

    public static string Text(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
