using System.Buffers;
using System.Runtime.CompilerServices;

namespace Gearman.Reactive.Protocol;

/// <summary>
/// The fields of one packet body as offsets, so the same split serves a borrowed
/// <see cref="ReadOnlySequence{T}"/> and a contiguous copy of it. Fields are split within the declared body only
/// (unlike gearmand, protocol.md §1.1 BUG): the first <c>n-1</c> fields end at a NUL, the last is the rest of the body.
/// </summary>
internal struct PacketFields
{
    private Ranges _ranges;

    /// <summary>Number of fields.</summary>
    public int Count { get; private set; }

    /// <summary>The offset and length of field <paramref name="index"/> within the body.</summary>
    public readonly FieldRange this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count) ThrowHelper.ThrowFieldIndex(index, Count);
            return _ranges[index];
        }
    }

    /// <summary>Splits <paramref name="body"/> by the layout of <paramref name="type"/>.</summary>
    /// <returns>False when the body holds too few NUL separators for the layout.</returns>
    public static bool TrySplit(PacketType type, in ReadOnlySequence<byte> body, out PacketFields fields)
        => TrySplit(PacketLayout.Of(type).Fields, body, out fields);

    /// <summary>Splits <paramref name="body"/> into <paramref name="count"/> fields.</summary>
    public static bool TrySplit(int count, in ReadOnlySequence<byte> body, out PacketFields fields)
    {
        fields = default;
        if (count == 0) return true;
        if (body.IsSingleSegment) return TrySplit(count, body.FirstSpan, out fields);

        var reader = new SequenceReader<byte>(body);
        int start = 0;
        for (int i = 0; i < count - 1; i++)
        {
            if (!reader.TryAdvanceTo(0, advancePastDelimiter: true)) return false;
            int end = (int)reader.Consumed - 1;
            fields._ranges[i] = new FieldRange(start, end - start);
            start = end + 1;
        }

        fields._ranges[count - 1] = new FieldRange(start, (int)body.Length - start);
        fields.Count = count;
        return true;
    }

    /// <summary>Splits a contiguous <paramref name="body"/> into <paramref name="count"/> fields.</summary>
    public static bool TrySplit(int count, ReadOnlySpan<byte> body, out PacketFields fields)
    {
        fields = default;
        if (count == 0) return true;
        int start = 0;
        for (int i = 0; i < count - 1; i++)
        {
            int nul = body[start..].IndexOf((byte)0);
            if (nul < 0) return false;
            fields._ranges[i] = new FieldRange(start, nul);
            start += nul + 1;
        }

        fields._ranges[count - 1] = new FieldRange(start, body.Length - start);
        fields.Count = count;
        return true;
    }

    /// <summary>Field <paramref name="index"/> of a body that was split by this instance.</summary>
    public readonly ReadOnlySequence<byte> Slice(in ReadOnlySequence<byte> body, int index)
    {
        var r = this[index];
        return body.Slice(r.Offset, r.Length);
    }

    /// <summary>Field <paramref name="index"/> of a contiguous body that was split by this instance.</summary>
    public readonly ReadOnlySpan<byte> Slice(ReadOnlySpan<byte> body, int index)
    {
        var r = this[index];
        return body.Slice(r.Offset, r.Length);
    }

    [InlineArray(PacketLayout.MaxFields)]
    private struct Ranges
    {
        private FieldRange _element;
    }
}

/// <summary>Where a field lies within a packet body.</summary>
internal readonly record struct FieldRange(int Offset, int Length)
{
    public int End => Offset + Length;
}
