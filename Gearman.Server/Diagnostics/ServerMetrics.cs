using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Gearman.Reactive;

namespace Gearman.Server.Diagnostics;

/// <summary>
/// The server's <see cref="System.Diagnostics.Metrics"/> instruments, on one meter named <see cref="MeterName"/>
/// (watch them with <c>dotnet-counters monitor -n Gearman.Server --counters Gearman.Server</c>). Names and tags are
/// public contract (docs/server.md). Recorded by the scheduler and the store writer, never per packet: a job costs a
/// handful of uncontended adds, and nothing at all is built while no listener has enabled an instrument.
/// </summary>
internal sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "Gearman.Server";

    private static readonly object BoxedTrue = true;
    private static readonly object BoxedFalse = false;

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly UpDownCounter<long> _connections;
    private readonly Counter<long> _jobsSubmitted;
    private readonly Counter<long> _submitsCoalesced;
    private readonly Counter<long> _jobsFinished;
    private readonly Counter<long> _jobsRequeued;
    private readonly UpDownCounter<long> _jobsActive;
    private readonly UpDownCounter<long> _jobsRunning;
    private readonly Histogram<double> _storeCommitDuration;
    private readonly Histogram<long> _storeCommitOperations;
    private readonly Counter<long> _storeFailures;
    private long _jobsSubmittedTotal;
    private long _jobsFinishedTotal;

    /// <param name="meterFactory">The host's factory (so each server's meter is scoped to it); null creates a private meter.</param>
    public ServerMetrics(IMeterFactory? meterFactory)
    {
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _connections = _meter.CreateUpDownCounter<long>("gearman.server.connections", "{connection}", "Open client, worker and admin connections.");
        _jobsSubmitted = _meter.CreateCounter<long>("gearman.server.jobs.submitted", "{job}", "New jobs accepted (JOB_CREATED sent for a job that did not exist).");
        _submitsCoalesced = _meter.CreateCounter<long>("gearman.server.jobs.coalesced", "{submit}", "Submits that joined an existing job with the same unique ID.");
        _jobsFinished = _meter.CreateCounter<long>("gearman.server.jobs.finished", "{job}", "Jobs that left the server, by gearman.job.outcome.");
        _jobsRequeued = _meter.CreateCounter<long>("gearman.server.jobs.requeued", "{job}", "Running jobs put back in their queue because the worker left or timed out.");
        _jobsActive = _meter.CreateUpDownCounter<long>("gearman.server.jobs.active", "{job}", "Jobs the server holds: queued, waiting for their epoch, being saved or running.");
        _jobsRunning = _meter.CreateUpDownCounter<long>("gearman.server.jobs.running", "{job}", "Jobs assigned to a worker.");
        _storeCommitDuration = _meter.CreateHistogram<double>("gearman.server.store.commit.duration", "s", "Time to apply one group commit to the durable queue.");
        _storeCommitOperations = _meter.CreateHistogram<long>("gearman.server.store.commit.operations", "{operation}", "Inserts and deletes applied by one group commit.");
        _storeFailures = _meter.CreateCounter<long>("gearman.server.store.failures", "{failure}", "Failed group commits and reconnect attempts of the durable queue.");
    }

    /// <summary>How a job left the server: the value of the <c>gearman.job.outcome</c> tag.</summary>
    public enum Outcome
    {
        /// <summary>WORK_COMPLETE.</summary>
        Completed,

        /// <summary>WORK_FAIL.</summary>
        Failed,

        /// <summary>WORK_EXCEPTION.</summary>
        Exception,

        /// <summary>Dropped after <c>--job-retries</c> lost workers.</summary>
        RetriesExhausted,

        /// <summary>A queued foreground job whose clients all left.</summary>
        Abandoned,

        /// <summary>Admin <c>cancel job</c>.</summary>
        Cancelled,
    }

    public void ConnectionOpened() => _connections.Add(1);

    public void ConnectionClosed() => _connections.Add(-1);

    public void JobCreated() => _jobsActive.Add(1);

    public void JobReleased() => _jobsActive.Add(-1);

    public void JobStarted() => _jobsRunning.Add(1);

    public void JobStopped() => _jobsRunning.Add(-1);

    public void JobRequeued() => _jobsRequeued.Add(1);

    public void SubmitCoalesced() => _submitsCoalesced.Add(1);

    /// <summary>Jobs submitted since start, whether or not a listener is on (the monitoring page's jobs per second).</summary>
    public long JobsSubmittedTotal => Volatile.Read(ref _jobsSubmittedTotal);

    /// <summary>Jobs finished since start, however they ended.</summary>
    public long JobsFinishedTotal => Volatile.Read(ref _jobsFinishedTotal);

    public void JobSubmitted(JobPriority priority, bool background)
    {
        Interlocked.Increment(ref _jobsSubmittedTotal);
        if (_jobsSubmitted.Enabled) JobSubmittedCore(priority, background);
    }

    public void JobFinished(Outcome outcome)
    {
        Interlocked.Increment(ref _jobsFinishedTotal);
        if (_jobsFinished.Enabled) JobFinishedCore(outcome);
    }

    public void StoreCommitted(TimeSpan duration, int operations)
    {
        if (_storeCommitDuration.Enabled) _storeCommitDuration.Record(duration.TotalSeconds);
        if (_storeCommitOperations.Enabled) _storeCommitOperations.Record(operations);
    }

    public void StoreFailed() => _storeFailures.Add(1);

    public void Dispose()
    {
        // A factory disposes the meters it created together with the host.
        if (_ownsMeter) _meter.Dispose();
    }

    internal static string PriorityName(JobPriority priority) => priority switch
    {
        JobPriority.High => "high",
        JobPriority.Low => "low",
        _ => "normal",
    };

    internal static string OutcomeName(Outcome outcome) => outcome switch
    {
        Outcome.Completed => "completed",
        Outcome.Failed => "failed",
        Outcome.Exception => "exception",
        Outcome.RetriesExhausted => "retries_exhausted",
        Outcome.Abandoned => "abandoned",
        _ => "cancelled",
    };

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void JobSubmittedCore(JobPriority priority, bool background)
    {
        var tags = new TagList
        {
            { "gearman.job.priority", PriorityName(priority) },
            { "gearman.job.background", background ? BoxedTrue : BoxedFalse },
        };
        _jobsSubmitted.Add(1, tags);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void JobFinishedCore(Outcome outcome)
        => _jobsFinished.Add(1, new KeyValuePair<string, object?>("gearman.job.outcome", OutcomeName(outcome)));
}
