using Gearman.Reactive;
using Gearman.Server.Networking;

namespace Gearman.Server.Scheduling;

/// <summary>Everything the scheduler keeps per function name (protocol.md §2.1). Created on first mention.</summary>
internal sealed class FunctionRecord
{
    private int _wakeCursor;

    public FunctionRecord(byte[] name)
    {
        Name = name;
        Queues = [new JobQueue(), new JobQueue(), new JobQueue()];
        UniqueJobs = new Dictionary<ReadOnlyMemory<byte>, Job>(ByteKeyComparer.Instance);
        DataKeyedJobs = new Dictionary<ReadOnlyMemory<byte>, Job>(ByteKeyComparer.Instance);
    }

    public byte[] Name { get; }

    /// <summary>Queued jobs by priority (<see cref="JobPriority"/> indexes).</summary>
    public JobQueue[] Queues { get; }

    /// <summary>Jobs by unique ID, for coalescing (empty uniques are never indexed).</summary>
    public Dictionary<ReadOnlyMemory<byte>, Job> UniqueJobs { get; }

    /// <summary>Jobs submitted with unique <c>-</c>, keyed by their data.</summary>
    public Dictionary<ReadOnlyMemory<byte>, Job> DataKeyedJobs { get; }

    /// <summary>Queued, delayed and running jobs (gearmand's job_total).</summary>
    public int JobTotal { get; set; }

    public int JobRunning { get; set; }

    /// <summary>Epoch jobs not yet due (they are counted in <see cref="JobTotal"/>, and as NORMAL in prioritystatus).</summary>
    public int DelayedCount { get; set; }

    /// <summary>Per-priority limits; 0 is unlimited.</summary>
    public int[] MaxQueue { get; } = new int[3];

    /// <summary>One entry per CAN_DO (duplicates included), in registration order: the wake-up rotation.</summary>
    public List<PeerConnection> Workers { get; } = [];

    public bool HasQueuedJobs => Queues[0].Count + Queues[1].Count + Queues[2].Count > 0;

    /// <summary>Where the next wake-up walk starts (moves on with <c>--worker-wakeup</c>).</summary>
    public int NextWakeIndex(int count)
    {
        if (count == 0) return 0;
        if (_wakeCursor >= count) _wakeCursor = 0;
        return _wakeCursor;
    }

    public void MoveWakeCursor(int next, int count) => _wakeCursor = count == 0 ? 0 : next % count;
}
