using System.Runtime;

namespace Gearman.Server.Scheduling;

/// <summary>
/// Counts what queued work holds (large request bodies, and a per-job estimate for every job) over all servers in
/// the process, and gives a drained burst's memory back to the OS. After a burst that held at least
/// <see cref="ReclaimThreshold"/>, one aggressive collection runs on the thread pool when the count falls to an eighth
/// of its peak (the peak then restarts from what is held), one when it falls to <see cref="DrainedBytes"/>, and one
/// when the scheduler trims a job table emptied after a burst of tens of thousands of jobs. Without
/// them nothing allocates after a drain, so no collection comes, and a collection alone keeps the freed regions
/// committed (docs/benchmarks/memory-causes.md). A steady flow never builds such a peak and never triggers one.
/// </summary>
internal static class HeldMemory
{
    /// <summary>The peak of bytes held above which their drain is followed by a collection.</summary>
    public const long ReclaimThreshold = 64L * 1024 * 1024;

    /// <summary>What counts as drained: a few thousand small jobs or a few large ones.</summary>
    public const long DrainedBytes = 1024 * 1024;

    private static long _held;
    private static long _peak;
    private static long _burstPeak;
    private static int _reclaimRequests; // 0 none, 1 queued or running, 2 one more after it
    private static int _reclaims;

    /// <summary>Bytes counted as held now.</summary>
    internal static long Held => Volatile.Read(ref _held);

    /// <summary>How many collections a drained burst has started.</summary>
    internal static int Reclaims => Volatile.Read(ref _reclaims);

    public static void Add(long bytes)
    {
        long held = Interlocked.Add(ref _held, bytes);
        RaiseTo(ref _peak, held);
        RaiseTo(ref _burstPeak, held);
    }

    public static void Remove(long bytes)
    {
        long held = Interlocked.Add(ref _held, -bytes);
        long peak = Volatile.Read(ref _peak);
        bool partway = peak >= ReclaimThreshold && held <= peak / 8;
        bool drained = held <= DrainedBytes && Volatile.Read(ref _burstPeak) >= ReclaimThreshold
            && Interlocked.Exchange(ref _burstPeak, held) >= ReclaimThreshold;
        if (partway || drained) RequestReclaim();
    }

    /// <summary>A table sized for a large burst was emptied and trimmed: its old arrays are garbage that a collection during the drain saw alive.</summary>
    public static void TableTrimmed() => RequestReclaim();

    private static void RequestReclaim()
    {
        int requests;
        do
        {
            requests = Volatile.Read(ref _reclaimRequests);
            if (requests == 2) return;
        }
        while (Interlocked.CompareExchange(ref _reclaimRequests, requests + 1, requests) != requests);
        if (requests == 0) ThreadPool.UnsafeQueueUserWorkItem(static _ => Reclaim(), null);
    }

    private static void RaiseTo(ref long peak, long held)
    {
        long seen = Volatile.Read(ref peak);
        while (held > seen)
        {
            long before = Interlocked.CompareExchange(ref peak, held, seen);
            if (before == seen) break;
            seen = before;
        }
    }

    /// <summary>A blocking, compacting collection that also decommits the freed regions.</summary>
    private static void Reclaim()
    {
        do
        {
            long held = Volatile.Read(ref _held);
            Volatile.Write(ref _peak, held);
            RecycledBodies.Shared.Clear();
            GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            Interlocked.Increment(ref _reclaims);
        }
        while (Interlocked.Decrement(ref _reclaimRequests) > 0);
    }
}
