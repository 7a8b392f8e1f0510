using Gearman.Server.Scheduling;

namespace Gearman.Server.Monitoring;

/// <summary>
/// Asks the scheduler for a <see cref="SchedulerSnapshot"/> once per <see cref="Interval"/> and publishes the latest one
/// (for the per-function gauges, which must answer synchronously) together with a bounded history of job counters, from
/// which the status page draws its jobs-per-second chart.
/// </summary>
internal sealed class SnapshotPublisher : IAsyncDisposable
{
    /// <summary>How often a snapshot is taken.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    /// <summary>Samples kept: ten minutes at one per second.</summary>
    public const int HistoryLength = 600;

    private readonly JobScheduler _scheduler;
    private readonly Lock _historyLock = new();
    private readonly Queue<RateSample> _history = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private volatile SchedulerSnapshot? _latest;
    private int _disposed;

    public SnapshotPublisher(JobScheduler scheduler)
    {
        _scheduler = scheduler;
        _loop = RunAsync(_stop.Token);
    }

    /// <summary>The most recent snapshot, or null before the first one.</summary>
    public SchedulerSnapshot? Latest => _latest;

    /// <summary>Jobs listed by <c>/api/jobs</c> and the status page at most: the oldest ones.</summary>
    public const int MaxJobsListed = 1000;

    /// <summary>
    /// A fresh snapshot (taken now, on the scheduler's thread) with up to <paramref name="maxJobs"/> jobs, which also
    /// becomes <see cref="Latest"/>.
    /// </summary>
    public async Task<SchedulerSnapshot> TakeAsync(CancellationToken cancellationToken, int maxJobs = 0)
    {
        var snapshot = await _scheduler.AskAsync(s => s.TakeSnapshot(maxJobs), cancellationToken).ConfigureAwait(false);
        _latest = snapshot;
        return snapshot;
    }

    /// <summary>The job counters once per second, oldest first, for at most the last <see cref="HistoryLength"/> seconds.</summary>
    public IReadOnlyList<RateSample> History()
    {
        lock (_historyLock) return [.. _history];
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Interval, _scheduler.Time);
        do
        {
            SchedulerSnapshot snapshot;
            try
            {
                snapshot = await TakeAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (System.Threading.Channels.ChannelClosedException)
            {
                return; // the server is stopping
            }

            lock (_historyLock)
            {
                _history.Enqueue(new RateSample(snapshot.TakenAt, snapshot.JobsSubmitted, snapshot.JobsFinished));
                while (_history.Count > HistoryLength) _history.Dequeue();
            }
        }
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
    }
}

/// <summary>The cumulative job counters at one moment.</summary>
internal sealed record RateSample(DateTimeOffset At, long Submitted, long Finished);
