using System.Threading.Channels;
using Gearman.Server.Diagnostics;
using Gearman.Server.Scheduling;
using Microsoft.Extensions.Logging;

namespace Gearman.Server.Persistence;

/// <summary>
/// Runs the store off the scheduler loop with group commit: the scheduler queues adds and deletes without waiting; this
/// loop takes everything queued so far, applies it in one transaction, and posts one <see cref="StoreAcknowledgement"/>
/// for the adds. While a transaction commits, the next batch accumulates, so the cost of a commit (an fsync) is shared by
/// every job submitted meanwhile.
/// <para>
/// When the store fails, the adds of the failed batch are reported as failed (their ids are deleted again later, in case
/// the commit happened after all) and the loop reconnects with back-off. Meanwhile new adds fail at once, and deletes and
/// retry counts are kept and applied first after the reconnect: neither is dropped while the server runs.
/// </para>
/// <para>
/// A writer made by <see cref="StartUnavailable"/> (the store was unreachable when the server started) begins by
/// reconnecting the same way; once the store is back it loads the stored jobs and posts them for replay
/// (<see cref="StoreAcknowledgement.Replay"/>) before anything else.
/// </para>
/// <para>
/// Thread rule: the loop reads a job's buffer only between taking its add and posting its acknowledgement; the scheduler
/// keeps a job that is being saved out of every path that could release it until the acknowledgement arrives.
/// </para>
/// </summary>
internal sealed class JobStoreWriter
{
    private const int MaxBatchOperations = 4096;
    private const long MaxBatchBytes = 16L << 20;
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);

    // Not SingleReader: while reconnecting, a wait for new operations may still be pending when the main loop waits again.
    private readonly Channel<StoreOperation> _operations = Channel.CreateUnbounded<StoreOperation>(new UnboundedChannelOptions
    {
        SingleReader = false,
        SingleWriter = true,
        AllowSynchronousContinuations = false,
    });

    private readonly IJobStore _store;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ServerMetrics? _metrics;
    private readonly List<long> _pendingDeletes = [];
    private readonly Dictionary<long, int> _pendingRetries = [];
    private volatile string? _unavailable;
    private bool _mustLoad;

    public JobStoreWriter(IJobStore store, ILogger logger, TimeProvider? timeProvider = null, ServerMetrics? metrics = null)
    {
        _store = store;
        _metrics = metrics;
        _logger = logger;
        _time = timeProvider ?? TimeProvider.System;
    }

    public IJobStore Store => _store;

    /// <summary>Why the store cannot be used now, or null while it works (read from any thread, for error replies).</summary>
    public string? Unavailable => _unavailable;

    /// <summary>
    /// The store could not be opened at start-up (<paramref name="reason"/>): <see cref="RunAsync"/> begins by
    /// reconnecting, then loads the stored jobs and posts them for replay. Call before <see cref="RunAsync"/>.
    /// </summary>
    public void StartUnavailable(string reason)
    {
        _unavailable = reason;
        _mustLoad = true;
    }

    /// <summary>Queues the insert of <paramref name="job"/> (scheduler loop only). False once the writer is completed.</summary>
    public bool Add(Job job) => _operations.Writer.TryWrite(new StoreOperation(job, job.StoreId, 0));

    /// <summary>Queues the delete of the row <paramref name="id"/> (scheduler loop only).</summary>
    public void Delete(long id) => _operations.Writer.TryWrite(new StoreOperation(null, id, -1));

    /// <summary>Queues storing <paramref name="retries"/> as the row <paramref name="id"/>'s retry count (scheduler loop only).</summary>
    public void SetRetries(long id, int retries) => _operations.Writer.TryWrite(new StoreOperation(null, id, retries));

    /// <summary>One line for logs and ERROR replies.</summary>
    internal static string Describe(Exception ex)
    {
        string text = ex.Message;
        if (ex.InnerException is { } inner && !text.Contains(inner.Message, StringComparison.Ordinal)) text += ": " + inner.Message;
        text = text.ReplaceLineEndings(" ");
        return text.Length <= 300 ? text : text[..300];
    }

    /// <summary>No more operations: the loop applies what is queued and ends.</summary>
    public void Complete() => _operations.Writer.TryComplete();

    /// <summary>The loop; <paramref name="acknowledge"/> posts results to the scheduler.</summary>
    public async Task RunAsync(Func<StoreAcknowledgement, ValueTask> acknowledge, CancellationToken cancellationToken)
    {
        var reader = _operations.Reader;
        var adds = new List<Job>();
        var records = new List<JobRecord>();
        var deletes = new List<long>();
        var retries = new Dictionary<long, int>();
        try
        {
            while (true)
            {
                if (_unavailable is not null)
                {
                    if (!await ReconnectAsync(acknowledge, cancellationToken).ConfigureAwait(false)) break;
                    continue;
                }

                if (_pendingDeletes.Count == 0 && _pendingRetries.Count == 0 && !await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false)) break;

                deletes.AddRange(_pendingDeletes);
                _pendingDeletes.Clear();
                foreach (var (id, count) in _pendingRetries) retries[id] = count;
                _pendingRetries.Clear();
                long bytes = 0;
                while (adds.Count + deletes.Count + retries.Count < MaxBatchOperations && bytes < MaxBatchBytes && reader.TryRead(out var operation))
                {
                    if (operation.Job is { } job)
                    {
                        adds.Add(job);
                        records.Add(JobRecord.From(job));
                        bytes += job.DataMemory.Length + 64;
                    }
                    else if (operation.Retries >= 0)
                    {
                        retries[operation.Id] = operation.Retries;
                    }
                    else
                    {
                        deletes.Add(operation.Id);
                    }
                }

                try
                {
                    long started = _time.GetTimestamp();
                    await _store.ApplyAsync(records, [.. retries.Select(r => new RetryCount(r.Key, r.Value))], deletes, cancellationToken).ConfigureAwait(false);
                    _metrics?.StoreCommitted(_time.GetElapsedTime(started), records.Count + retries.Count + deletes.Count);
                    records.Clear();
                    deletes.Clear();
                    retries.Clear();
                    if (adds.Count > 0) await AcknowledgeAsync(acknowledge, new StoreAcknowledgement([.. adds], null)).ConfigureAwait(false);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    string reason = Describe(ex);
                    _metrics?.StoreFailed();
                    ServerLog.StoreFailed(_logger, ex, reason);
                    _unavailable = reason;
                    records.Clear();

                    // The commit may have happened although it reported failure: delete the ids again once reconnected.
                    foreach (var job in adds) _pendingDeletes.Add(job.StoreId);
                    _pendingDeletes.AddRange(deletes);
                    deletes.Clear();
                    foreach (var (id, count) in retries) _pendingRetries[id] = count;
                    retries.Clear();
                    if (adds.Count > 0) await AcknowledgeAsync(acknowledge, new StoreAcknowledgement([.. adds], $"The job store failed: {reason}")).ConfigureAwait(false);
                    await CloseQuietlyAsync().ConfigureAwait(false);
                }
                finally
                {
                    adds.Clear();
                }
            }
        }
        finally
        {
            if (_pendingDeletes.Count + _pendingRetries.Count > 0) ServerLog.StoreDeletesLost(_logger, _pendingDeletes.Count, _pendingRetries.Count);
        }
    }

    private static async ValueTask AcknowledgeAsync(Func<StoreAcknowledgement, ValueTask> acknowledge, StoreAcknowledgement acknowledgement)
    {
        try
        {
            await acknowledge(acknowledgement).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            // The scheduler has stopped: nobody waits for the reply any more, and a durable job replays at the next start.
        }
    }

    /// <summary>
    /// Retries <see cref="IJobStore.OpenAsync"/> (and, after a degraded start, <see cref="IJobStore.LoadAsync"/>) with
    /// back-off, failing every add queued meanwhile at once and keeping the deletes and retry counts. True once the store
    /// is back (and its jobs are posted for replay); false when the writer was completed and the store is still down.
    /// </summary>
    private async Task<bool> ReconnectAsync(Func<StoreAcknowledgement, ValueTask> acknowledge, CancellationToken cancellationToken)
    {
        var reader = _operations.Reader;
        var delay = FirstRetryDelay;
        Task<bool>? readable = null;
        bool completed = reader.Completion.IsCompleted;
        while (true)
        {
            var attempt = AttemptAsync(delay, cancellationToken);
            while (!attempt.IsCompleted)
            {
                if (completed)
                {
                    await attempt.ConfigureAwait(false);
                    break;
                }

                readable ??= reader.WaitToReadAsync(cancellationToken).AsTask();
                await Task.WhenAny(attempt, readable).ConfigureAwait(false);
                if (readable.IsCompleted)
                {
                    completed = !await readable.ConfigureAwait(false);
                    readable = null;
                    await FailQueuedAddsAsync(acknowledge).ConfigureAwait(false);
                }
            }

            var (error, stored) = await attempt.ConfigureAwait(false);
            await FailQueuedAddsAsync(acknowledge).ConfigureAwait(false);
            if (error is null)
            {
                if (stored is not null)
                {
                    // Before the scheduler sees the replay, every background submit is refused by the scheduler itself.
                    _mustLoad = false;
                    await AcknowledgeAsync(acknowledge, StoreAcknowledgement.ForReplay(stored)).ConfigureAwait(false);
                }

                _unavailable = null;
                ServerLog.StoreReconnected(_logger, _store.Description, _pendingDeletes.Count);
                return true;
            }

            if (completed) return false;
            _metrics?.StoreFailed();
            _unavailable = Describe(error);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
            ServerLog.StoreReconnectFailed(_logger, _unavailable, delay);
        }
    }

    private async Task<(Exception? Error, IReadOnlyList<JobRecord>? Stored)> AttemptAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        try
        {
            await _store.OpenAsync(cancellationToken).ConfigureAwait(false);
            return (null, _mustLoad ? await _store.LoadAsync(cancellationToken).ConfigureAwait(false) : null);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            await CloseQuietlyAsync().ConfigureAwait(false);
            return (ex, null);
        }
    }

    private async ValueTask FailQueuedAddsAsync(Func<StoreAcknowledgement, ValueTask> acknowledge)
    {
        List<Job>? failed = null;
        while (_operations.Reader.TryRead(out var operation))
        {
            if (operation.Job is { } job) (failed ??= []).Add(job);
            else if (operation.Retries >= 0) _pendingRetries[operation.Id] = operation.Retries;
            else _pendingDeletes.Add(operation.Id);
        }

        if (failed is not null) await AcknowledgeAsync(acknowledge, new StoreAcknowledgement([.. failed], UnavailableError(_unavailable))).ConfigureAwait(false);
    }

    private async ValueTask CloseQuietlyAsync()
    {
        try
        {
            await _store.CloseAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            ServerLog.StoreFailed(_logger, ex, "closing the broken connection failed");
        }
    }

    /// <summary>The ERROR text for a background submit refused while the store is unavailable.</summary>
    internal static string UnavailableError(string? reason) => $"The job store is unavailable: {reason}";

    /// <summary>An insert (<see cref="Job"/> set), a retry count for row <see cref="Id"/> (<see cref="Retries"/> &gt;= 0) or a delete of it (-1).</summary>
    private readonly record struct StoreOperation(Job? Job, long Id, int Retries);
}
