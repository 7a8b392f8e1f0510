using System.Diagnostics.CodeAnalysis;

namespace Gearman.Server.Scheduling;

/// <summary>
/// Compares byte-string keys by content. Keys are <see cref="ReadOnlyMemory{T}"/> slices of buffers the state already
/// owns (a job's packet copy, a function's name), and lookups by <see cref="ReadOnlySpan{T}"/> allocate nothing.
/// </summary>
internal sealed class ByteKeyComparer : IEqualityComparer<ReadOnlyMemory<byte>>, IAlternateEqualityComparer<ReadOnlySpan<byte>, ReadOnlyMemory<byte>>
{
    public static ByteKeyComparer Instance { get; } = new();

    public static int Hash(ReadOnlySpan<byte> bytes)
    {
        var hash = default(HashCode);
        hash.AddBytes(bytes);
        return hash.ToHashCode();
    }

    public bool Equals(ReadOnlyMemory<byte> x, ReadOnlyMemory<byte> y) => x.Span.SequenceEqual(y.Span);

    public int GetHashCode([DisallowNull] ReadOnlyMemory<byte> obj) => Hash(obj.Span);

    public bool Equals(ReadOnlySpan<byte> alternate, ReadOnlyMemory<byte> other) => alternate.SequenceEqual(other.Span);

    public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);

    public ReadOnlyMemory<byte> Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
}
