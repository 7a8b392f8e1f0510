using System.Buffers;

namespace Gearman.Benchmarks.Micro;

/// <summary>Builds a multi-segment <see cref="ReadOnlySequence{T}"/> over copies of a byte array, as a pipe delivers it.</summary>
internal static class SegmentedSequence
{
    /// <summary>Cuts <paramref name="bytes"/> into segments of <paramref name="segmentLength"/> bytes (the last may be shorter).</summary>
    public static ReadOnlySequence<byte> Create(ReadOnlySpan<byte> bytes, int segmentLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentLength, 1);
        if (bytes.IsEmpty) return ReadOnlySequence<byte>.Empty;

        Segment? first = null;
        Segment? last = null;
        for (int at = 0; at < bytes.Length; at += segmentLength)
        {
            var chunk = bytes.Slice(at, Math.Min(segmentLength, bytes.Length - at)).ToArray();
            if (last is null)
            {
                first = last = new Segment(chunk, 0);
            }
            else
            {
                last = last.Append(chunk);
            }
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

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
