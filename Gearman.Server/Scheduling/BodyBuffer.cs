using System.Buffers;
using System.Numerics;

namespace Gearman.Server.Scheduling;

/// <summary>
/// Buffers for packet bodies copied out of the connection's pipe. Small bodies come from <see cref="ArrayPool{T}"/>, so
/// the usual request costs no allocation. A large body that may become a job's (a submit) is allocated at its exact size
/// instead: a queued job keeps its body, and the pool's power-of-two buckets would hold up to twice the bytes
/// (a 64 KiB payload plus its names lands in the 128 KiB bucket).
/// </summary>
internal static class BodyBuffer
{
    /// <summary>Submit bodies above this size are allocated exactly; everything else is pooled.</summary>
    public const int PooledJobBodyMaxLength = 1024;

    /// <summary>A buffer of at least <paramref name="length"/> bytes; pass it back with <see cref="Return"/>.</summary>
    public static byte[] Rent(int length, bool mayBecomeJob)
    {
        if (length == 0) return [];
        if (mayBecomeJob && length > PooledJobBodyMaxLength) return GC.AllocateUninitializedArray<byte>(length);
        return ArrayPool<byte>.Shared.Rent(length);
    }

    /// <summary>
    /// Gives a buffer from <see cref="Rent"/> back. The shared pool takes any array whose length is one of its bucket
    /// sizes (16 × 2^n bytes) and owns no list of what it handed out, so an exact array of such a length may go back too;
    /// any other exact array is left to the GC.
    /// </summary>
    public static void Return(byte[] buffer)
    {
        if (buffer.Length >= 16 && BitOperations.IsPow2(buffer.Length)) ArrayPool<byte>.Shared.Return(buffer);
    }
}
