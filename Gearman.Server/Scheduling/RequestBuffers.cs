using System.Buffers;
using System.Runtime;

namespace Gearman.Server.Scheduling;

/// <summary>
/// The buffers behind every request body the server copies (the framer rents, the scheduler or a job returns). Bodies
/// up to <see cref="MaxPooledLength"/> come from <see cref="ArrayPool{T}.Shared"/>; larger ones are exactly sized arrays
/// that go back to the GC, because the pool rounds a length up to a power of two (a 64 KiB + 12 B job cost 128 KiB)
/// and keeps only a few arrays per size, so a burst of large jobs bought fresh arrays anyway and left them for a GC
/// that never came once the burst had drained (docs/benchmarks/memory-causes.md). The bytes of large bodies still
/// held are counted: once they fall to an eighth of their peak, and that peak was at least
/// <see cref="ReclaimThreshold"/>, one aggressive collection returns the drained burst's memory to the OS.
/// Returned buffers can be poisoned (<see cref="PoisonReturned"/>) so that a use after return becomes visible.
/// </summary>
internal static class RequestBuffers
{
    /// <summary>The byte a returned buffer is filled with while <see cref="PoisonReturned"/> is on.</summary>
    public const byte Poison = 0xDE;

    /// <summary>The largest body taken from the pool (a power of two, so a pooled array is never longer).</summary>
    public const int MaxPooledLength = 2048;

    /// <summary>The peak of large-body bytes held above which their drain is followed by a collection.</summary>
    public const long ReclaimThreshold = 64L * 1024 * 1024;

    private static volatile bool _poisonReturned;
    private static long _largeBytes;
    private static long _peakLargeBytes;
    private static int _reclaimQueued;
    private static int _reclaims;

    /// <summary>Fill returned buffers with <see cref="Poison"/> (tests turn it on; a switch rather than DEBUG, as tests run in Release).</summary>
    internal static bool PoisonReturned
    {
        get => _poisonReturned;
        set => _poisonReturned = value;
    }

    /// <summary>Bytes of large (exactly sized) bodies rented and not yet returned, over all servers in the process.</summary>
    internal static long LargeBytes => Volatile.Read(ref _largeBytes);

    /// <summary>How many collections a drained burst has started.</summary>
    internal static int Reclaims => Volatile.Read(ref _reclaims);

    /// <summary>A buffer of at least <paramref name="length"/> bytes, exactly <paramref name="length"/> above <see cref="MaxPooledLength"/> (the empty array for 0).</summary>
    public static byte[] Rent(int length)
    {
        if (length == 0) return [];
        if (length <= MaxPooledLength) return ArrayPool<byte>.Shared.Rent(length);

        var buffer = GC.AllocateUninitializedArray<byte>(length);
        long held = Interlocked.Add(ref _largeBytes, length);
        long peak = Volatile.Read(ref _peakLargeBytes);
        while (held > peak)
        {
            long seen = Interlocked.CompareExchange(ref _peakLargeBytes, held, peak);
            if (seen == peak) break;
            peak = seen;
        }

        return buffer;
    }

    /// <summary>Gives <paramref name="buffer"/> back; nothing may read or write it afterwards.</summary>
    public static void Return(byte[] buffer)
    {
        if (buffer.Length == 0) return;
        if (PoisonReturned) buffer.AsSpan().Fill(Poison);
        if (buffer.Length <= MaxPooledLength)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            return;
        }

        long held = Interlocked.Add(ref _largeBytes, -buffer.Length);
        long peak = Volatile.Read(ref _peakLargeBytes);
        if (peak >= ReclaimThreshold && held <= peak / 8 && Interlocked.CompareExchange(ref _reclaimQueued, 1, 0) == 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static _ => Reclaim(), null);
        }
    }

    /// <summary>
    /// A blocking, compacting collection that also decommits the freed regions: without it the GC keeps a drained
    /// burst's pages (nothing allocates to trigger a collection, and a collection alone keeps the free regions).
    /// </summary>
    private static void Reclaim()
    {
        Volatile.Write(ref _peakLargeBytes, Volatile.Read(ref _largeBytes));
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Interlocked.Increment(ref _reclaims);
        Volatile.Write(ref _reclaimQueued, 0);
    }
}
