using Gearman.Reactive.Connections;
using Gearman.Reactive.Diagnostics;

namespace Gearman.Reactive.Client;

/// <summary>Submitting, failing over, and consuming a job's events.</summary>
public sealed partial class GearmanClient
{
    /// <summary>The body of a <see cref="Submit"/> subscription: the only caller of the observer.</summary>
    private Task ObserveAsync(SubmitRequest request, IObserver<TaskEvent> observer, CancellationToken cancellationToken)
        => RunAsync<ObserveStep, bool>(request, new TaskSubscription(), new ObserveStep(observer), cancellationToken).AsTask();

    private ValueTask<ReadOnlyMemory<byte>> ExecuteCoreAsync(SubmitRequest request, IProgress<JobProgress>? progress, CancellationToken cancellationToken)
    {
        // Only data, status (when reported) and the result matter here: JOB_CREATED alone must not wake the consumer.
        var subscription = progress is null
            ? new TaskSubscription(TaskEventKind.Created, TaskEventKind.Warning, TaskEventKind.Status)
            : new TaskSubscription(TaskEventKind.Created, TaskEventKind.Warning);
        return RunAsync<ExecuteStep, ReadOnlyMemory<byte>>(request, subscription, new ExecuteStep(progress), cancellationToken);
    }

    private ValueTask<JobHandle> SubmitBackgroundCoreAsync(SubmitRequest request, CancellationToken cancellationToken)
        => RunAsync<BackgroundStep, JobHandle>(request, new TaskSubscription(), default, cancellationToken);

    /// <summary>
    /// Submits <paramref name="request"/> for one consumer and feeds its events to <paramref name="step"/> until the step
    /// has a result or the stream ends; a timeout throws <see cref="TimeoutException"/>, and the consumer detaches from
    /// the job however the run ends. The step is a struct type argument, so the loop is specialised per consumer kind
    /// and its per-event call is direct (no delegate, no allocation).
    /// </summary>
    private async ValueTask<TResult> RunAsync<TStep, TResult>(SubmitRequest request, TaskSubscription subscription, TStep step, CancellationToken cancellationToken)
        where TStep : struct, ITaskEventStep<TResult>
    {
        // Locals that live across an await enlarge the state machine every run allocates: the token and the queue are
        // re-read rather than kept, which pays for the metrics start time.
        long start = GearmanMetrics.TaskStarted(request.Function, Options.TimeProvider);
        using var deadline = Deadline.Start(request.Options.Timeout, Options.TimeProvider, cancellationToken);
        try
        {
            request = StartTracing(request, subscription);
            await DispatchAsync(new ClientJob(request, subscription), deadline?.Token ?? cancellationToken).ConfigureAwait(false);
            while (await subscription.Events.WaitToReadAsync(deadline?.Token ?? cancellationToken).ConfigureAwait(false))
            {
                while (subscription.Events.TryRead(out var e))
                {
                    if (step.OnEvent(e, out var result)) return Succeeded(request, start, result);
                }
            }

            return Succeeded(request, start, step.OnEnded(request));
        }
        catch (OperationCanceledException) when (deadline is { Expired: true } && !cancellationToken.IsCancellationRequested)
        {
            GearmanMetrics.TaskFinished(request.Function, GearmanMetrics.TaskOutcome.Timeout, start, Options.TimeProvider);
            var timeout = TimedOut(request);
            GearmanTracing.Failed(subscription.Activity, timeout);
            throw timeout;
        }
        catch (Exception ex)
        {
            GearmanMetrics.TaskFinished(request.Function, GearmanMetrics.OutcomeOf(ex), start, Options.TimeProvider);
            GearmanTracing.Failed(subscription.Activity, ex);
            throw;
        }
        finally
        {
            subscription.Detach();
            subscription.Activity?.Dispose();
        }
    }

    /// <summary>A run ended with a result: a foreground job completed, or a background job was created.</summary>
    private TResult Succeeded<TResult>(SubmitRequest request, long start, TResult result)
    {
        var outcome = request.Background ? GearmanMetrics.TaskOutcome.Created : GearmanMetrics.TaskOutcome.Completed;
        GearmanMetrics.TaskFinished(request.Function, outcome, start, Options.TimeProvider);
        return result;
    }

    /// <summary>
    /// Hands <paramref name="job"/> to a server: the one its unique ID hashes to, else the next round-robin, skipping
    /// servers in back-off and servers it was already sent to. Completes synchronously when the server is connected.
    /// </summary>
    /// <exception cref="GearmanConnectionException">No server is left to try.</exception>
    private async ValueTask DispatchAsync(ClientJob job, CancellationToken cancellationToken)
    {
        ulong? key = ServerSelector.KeyHash(job.Request);
        int start = key is null ? (int)((uint)Interlocked.Increment(ref _roundRobin) % (uint)_sessions.Length) : 0;
        Exception? lastError = null;
        while (true)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            int index = ServerSelector.Next(_sessions, key, start, job.TriedServers);
            if (index < 0)
            {
                throw new GearmanConnectionException(
                    $"No job server could take the job of '{job.Request.Function}': {lastError?.Message ?? "all were tried"}", lastError);
            }

            var session = _sessions[index];
            job.TriedServers |= session.Bit;
            if (session.IsBackingOff(out var backOffError))
            {
                lastError = new GearmanConnectionException(
                    $"job server {session.Name} is skipped after a failure ({backOffError?.Message})", backOffError);
                continue;
            }

            GearmanConnection connection;
            try
            {
                connection = await session.GetConnectionAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (GearmanConnectionException ex)
            {
                // A server that broke the protocol as soon as we connected: that is the cause, as when it does so later (below).
                lastError = ex.InnerException is GearmanProtocolException protocol ? protocol : ex;
                continue;
            }

            // Back-pressure: while the server does not read, submits wait here rather than queue without bound.
            using (await connection.Outbox.WaitForRoomAsync(cancellationToken).ConfigureAwait(false))
            {
                if (session.AwaitsNoReply)
                {
                    // A request on an otherwise quiet connection is written on this thread: no wake-up of the write loop.
                    // (Requests that follow others in flight are left to the write loop, which batches bursts.)
                    using (PacketOutbox.SendInline())
                    {
                        if (session.TryEnqueue(job, connection)) return;
                    }
                }
                else if (session.TryEnqueue(job, connection))
                {
                    return;
                }
            }

            // Closed between connecting and queueing: what closed it (a protocol error, say) is the real cause.
            lastError = ClosedCause(connection) ?? new GearmanConnectionException($"The connection to job server {session.Name} closed.");
        }
    }

    private async Task ResubmitAsync(ClientJob job, string lostServer, Exception cause)
    {
        try
        {
            if (!job.HasSubscribers)
            {
                job.Complete(null);
                return;
            }

            await DispatchAsync(job, ShutdownToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            job.Complete(new ObjectDisposedException(nameof(GearmanClient), "The Gearman client was disposed."));
        }
        catch (GearmanConnectionException ex)
        {
            // The loss is the root cause; why no other server could take the job is in the message.
            job.Complete(new GearmanConnectionException(
                $"Job server {lostServer} was lost before it acknowledged the job of '{job.Request.Function}' ({cause.Message}), " +
                $"and no other server could take it: {ex.Message}",
                cause));
        }
        catch (Exception ex)
        {
            job.Complete(ex);
        }
    }

    private async ValueTask<JobStatus> QueryAsync(ServerSession session, StatusRequest request, CancellationToken cancellationToken)
    {
        if (session.IsBackingOff(out var error))
        {
            throw new GearmanConnectionException($"Job server {session.Name} is skipped after a failure: {error?.Message}", error);
        }

        var connection = await session.GetConnectionAsync(cancellationToken).ConfigureAwait(false);
        if (!session.TrySend(request, connection))
        {
            var cause = ClosedCause(connection);
            throw new GearmanConnectionException($"The connection to job server {session.Name} closed{(cause is null ? "." : $": {cause.Message}")}", cause);
        }

        return await request.Reply.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<JobStatus> GetStatusByUniqueCoreAsync(string unique, CancellationToken cancellationToken)
    {
        ulong key = ServerSelector.KeyHash(unique);
        ulong tried = 0;
        JobStatus? unknown = null;
        Exception? lastError = null;
        int index;
        while ((index = ServerSelector.Next(_sessions, key, 0, tried)) >= 0)
        {
            tried |= 1UL << index;
            try
            {
                var status = await QueryAsync(_sessions[index], new StatusRequest(PendingKind.StatusUnique, unique), cancellationToken).ConfigureAwait(false);
                if (status.IsKnown) return status;
                unknown ??= status;
            }
            catch (GearmanConnectionException ex)
            {
                lastError = ex;
            }
        }

        return unknown ?? throw new GearmanConnectionException($"No job server answered the status query for unique ID '{unique}'.", lastError);
    }

    /// <summary>The error that closed <paramref name="connection"/>, if it has closed with one.</summary>
    private static Exception? ClosedCause(GearmanConnection connection)
        => connection.IsOpen ? null : connection.CloseError;

    private static TimeoutException TimedOut(SubmitRequest request)
        => new($"The job of '{request.Function}' did not finish within {request.Options.Timeout.TotalMilliseconds:0} ms; " +
               "the client detached from it (Gearman cannot cancel a job, so it may still run).");

    /// <summary>A cancellation token that also fires after a timeout measured on a <see cref="TimeProvider"/>.</summary>
    private sealed class Deadline : IDisposable
    {
        private readonly CancellationTokenSource _cts;
        private readonly ITimer _timer;
        private volatile bool _expired;

        private Deadline(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
        {
            _cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _timer = time.CreateTimer(static s => ((Deadline)s!).Expire(), this, timeout, Timeout.InfiniteTimeSpan);
        }

        public CancellationToken Token => _cts.Token;

        public bool Expired => _expired;

        public static Deadline? Start(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
            => timeout == Timeout.InfiniteTimeSpan ? null : new Deadline(timeout, time, cancellationToken);

        public void Dispose()
        {
            _timer.Dispose();
            _cts.Dispose();
        }

        private void Expire()
        {
            _expired = true;
            try
            {
                _cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The job ended as the timer fired.
            }
        }
    }
}
