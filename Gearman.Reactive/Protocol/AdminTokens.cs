using System.Runtime.CompilerServices;

namespace Gearman.Reactive.Protocol;

/// <summary>
/// The tokens of one admin line, split on runs of spaces as gearmand does (protocol.md §3): a line of spaces, or an
/// empty line, yields one empty token; leading or trailing spaces add an empty first or last token; more than
/// <see cref="MaxTokens"/> tokens is a protocol error.
/// </summary>
internal struct AdminTokens
{
    /// <summary>gearmand closes the connection when a line has more tokens than this.</summary>
    public const int MaxTokens = 5;

    private Ranges _ranges;

    /// <summary>Number of tokens (at least 1 for a successfully split line).</summary>
    public int Count { get; private set; }

    /// <summary>Token <paramref name="index"/> as a range of the line.</summary>
    public readonly FieldRange this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count) ThrowHelper.ThrowFieldIndex(index, Count);
            return _ranges[index];
        }
    }

    /// <summary>Splits <paramref name="line"/>; false when it holds more than <see cref="MaxTokens"/> tokens.</summary>
    /// <remarks>
    /// Like gearmand, a run of spaces at the start or the end of the line delimits an empty token (verified against
    /// 1.1.20: <c>" status"</c> is an unknown command with an empty name, <c>"show jobs "</c> has three tokens, and
    /// <c>"a b c d e "</c> has six and closes the connection).
    /// </remarks>
    public static bool TrySplit(ReadOnlySpan<byte> line, out AdminTokens tokens)
    {
        tokens = default;
        if (line.IndexOfAnyExcept((byte)' ') < 0)
        {
            tokens._ranges[0] = new FieldRange(line.Length, 0);
            tokens.Count = 1;
            return true;
        }

        int i = 0;
        int count = 0;
        while (true)
        {
            int start = i;
            while (i < line.Length && line[i] != (byte)' ') i++;
            if (count == MaxTokens) return false;
            tokens._ranges[count++] = new FieldRange(start, i - start);
            if (i == line.Length) break;
            while (i < line.Length && line[i] == (byte)' ') i++;
        }

        tokens.Count = count;
        return true;
    }

    /// <summary>Token <paramref name="index"/> of the line this instance split.</summary>
    public readonly ReadOnlySpan<byte> Slice(ReadOnlySpan<byte> line, int index)
    {
        var r = this[index];
        return line.Slice(r.Offset, r.Length);
    }

    /// <summary>Whether token <paramref name="index"/> equals <paramref name="word"/>, ignoring ASCII case.</summary>
    public readonly bool Is(ReadOnlySpan<byte> line, int index, ReadOnlySpan<byte> word)
        => index < Count && System.Text.Ascii.EqualsIgnoreCase(Slice(line, index), word);

    [InlineArray(MaxTokens)]
    private struct Ranges
    {
        private FieldRange _element;
    }
}
