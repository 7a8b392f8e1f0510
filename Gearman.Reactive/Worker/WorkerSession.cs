using System.Threading.Tasks.Dataflow;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Diagnostics;
using Gearman.Reactive.Protocol;

namespace Gearman.Reactive.Worker;

/// <summary>
/// One job server for one <see cref="WorkerLane"/>: keeps a connection open (reconnecting with back-off and registering
/// again), and runs the grab loop on it. The loop takes a capacity credit from the lane before each
/// <c>GRAB_JOB_ALL</c>, hands an assigned job to the lane's block with <c>SendAsync</c>, and after <c>NO_JOB</c> gives
/// the credit back, sends <c>PRE_SLEEP</c> and waits for <c>NOOP</c> (libgearman's grab loop, protocol.md §5.2).
/// </summary>
internal sealed class WorkerSession
{
    private readonly Lock _lock = new();
    private readonly CreditWaiter _creditWaiter = new();
    private WorkerConnection? _current;
    private Task _run = Task.CompletedTask;

    public WorkerSession(WorkerLane lane, ServerEndpoint endpoint)
    {
        Lane = lane;
        Endpoint = endpoint;
    }

    public WorkerLane Lane { get; }

    public ServerEndpoint Endpoint { get; }

    /// <summary>Completes when the session has stopped grabbing (its connection may still be open for results).</summary>
    public Task Running => _run;

    /// <summary>Starts connecting and grabbing until <paramref name="stopping"/> fires.</summary>
    public void Start(CancellationToken stopping) => _run = Task.Run(() => RunAsync(stopping), CancellationToken.None);

    /// <summary>Takes away the jobs still running on the current connection; returns how many.</summary>
    public int AbandonAll()
    {
        lock (_lock) return _current?.AbandonAll() ?? 0;
    }

    /// <summary>Closes the current connection (after flushing queued results) and waits for the loop to end.</summary>
    public async ValueTask CloseAsync()
    {
        while (true)
        {
            WorkerConnection? current;
            lock (_lock) current = _current;
            if (current is not null) await current.DisposeAsync().ConfigureAwait(false);
            try
            {
                await _run.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // A loop that will not end holds no connection we know of; nothing more to close.
            }

            lock (_lock)
            {
                if (ReferenceEquals(_current, current)) return;
            }
        }
    }

    private async Task RunAsync(CancellationToken stopping)
    {
        var options = Lane.Worker.Options;
        var time = options.TimeProvider;
        var logger = Lane.Worker.Logger;
        var delay = options.ReconnectDelay;
        while (!stopping.IsCancellationRequested)
        {
            WorkerConnection? connection = null;
            bool healthy = false;
            try
            {
                connection = await WorkerConnection.ConnectAsync(this, stopping).ConfigureAwait(false);
                lock (_lock) _current = connection;
                GearmanWorker.Log.Connected(logger, Endpoint, Lane.Description);
                healthy = await GrabLoopAsync(connection, stopping).ConfigureAwait(false);
                if (stopping.IsCancellationRequested) return; // the connection stays open for results; CloseAsync ends it
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (GearmanConnectionException ex)
            {
                GearmanWorker.Log.ConnectFailed(logger, Endpoint, ex.InnerException?.Message ?? ex.Message, delay);
            }
            catch (Exception ex)
            {
                GearmanWorker.Log.SessionFailed(logger, Endpoint, ex);
            }

            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                lock (_lock)
                {
                    if (ReferenceEquals(_current, connection)) _current = null;
                }
            }

            if (healthy) delay = options.ReconnectDelay;
            try
            {
                await Task.Delay(ReconnectBackoff.Jittered(delay), time, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = ReconnectBackoff.Next(delay, options.MaxReconnectDelay);
        }
    }

    /// <summary>
    /// Grabs until the connection closes (returns) or stopping fires (returns after an outstanding grab's reply has been
    /// handled). Returns true when the server answered at least one grab, so the back-off can start over.
    /// </summary>
    private async Task<bool> GrabLoopAsync(WorkerConnection connection, CancellationToken stopping)
    {
        using var waits = CancellationTokenSource.CreateLinkedTokenSource(stopping, connection.ClosedToken);
        bool healthy = false;
        while (true)
        {
            try
            {
                await Lane.AcquireAsync(_creditWaiter, waits.Token).ConfigureAwait(false);
                Lane.Acquired();
            }
            catch (OperationCanceledException)
            {
                return healthy;
            }

            if (stopping.IsCancellationRequested || !SendInline(connection, PacketType.GrabJobAll))
            {
                Lane.Release();
                return healthy;
            }

            // The reply is awaited even when stopping: a job the server assigns is ours to run. A closing connection
            // completes the event channel, which ends the wait.
            JobAssignment? assignment = null;
            while (true)
            {
                var e = await ReadAsync(connection, CancellationToken.None).ConfigureAwait(false);
                if (e is null)
                {
                    Lane.Release();
                    return healthy;
                }

                if (e.Value.Kind == WorkerEventKind.NoJob) break;
                if (e.Value.Kind == WorkerEventKind.Job)
                {
                    assignment = e.Value.Job;
                    break;
                }

                // A NOOP while awake is ignored, as libgearman does.
            }

            healthy = true;
            if (assignment is not null)
            {
                await DeliverAsync(connection, assignment).ConfigureAwait(false);
                continue;
            }

            Lane.Release();
            if (stopping.IsCancellationRequested) return healthy;
            if (!SendInline(connection, PacketType.PreSleep)) return healthy;
            while (true)
            {
                WorkerEvent? e;
                try
                {
                    e = await ReadAsync(connection, waits.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return healthy;
                }

                if (e is null) return healthy;
                if (e.Value.Kind == WorkerEventKind.Noop) break;
            }
        }
    }

    /// <summary>Turns an assignment into a job and hands it to the lane's block; the credit taken for the grab is now the job's.</summary>
    private async Task DeliverAsync(WorkerConnection connection, JobAssignment assignment)
    {
        var worker = Lane.Worker;
        var function = Lane.Find(assignment.Function);
        System.Diagnostics.ActivityContext? traceParent = null;
        var envelopeError = function is { TraceContext: true } ? TraceContextEnvelope.Open(ref assignment, out traceParent) : null;
        var job = new GearmanJob(connection, assignment, function?.EffectiveTimeout, worker.Options.TimeProvider) { TraceParent = traceParent };
        connection.Track(job);
        GearmanWorker.Log.JobReceived(worker.Logger, job.Handle, job.Function, Endpoint);
        if (assignment.RefusedBodySize > 0)
        {
            // A job this worker cannot take: fail it, keep the connection. Closing it would make the server requeue the
            // job and assign it again on the next connection, for ever, with the jobs behind it waiting.
            long limit = worker.Options.MaxPacketSize;
            GearmanWorker.Log.JobTooLarge(worker.Logger, Endpoint, job.Handle, job.Function, assignment.RefusedBodySize, limit);
            if (worker.Options.SendExceptions)
            {
                await job.FailWithExceptionAsync(
                    $"The job's packet of {assignment.RefusedBodySize} bytes is over this worker's MaxPacketSize of {limit} bytes; the worker refused it.")
                    .ConfigureAwait(false);
            }
            else
            {
                await job.FailAsync().ConfigureAwait(false);
            }

            if (!Lane.ReleasesOnJobEnd) Lane.Release();
            return;
        }

        if (envelopeError is not null)
        {
            GearmanWorker.Log.HandlerFailed(worker.Logger, job.Handle, job.Function, envelopeError);
            if (worker.Options.SendExceptions) await job.FailWithExceptionAsync(envelopeError.Message).ConfigureAwait(false);
            else await job.FailAsync().ConfigureAwait(false);
            if (!Lane.ReleasesOnJobEnd) Lane.Release();
            return;
        }

        if (function is null)
        {
            GearmanWorker.Log.UnknownFunction(worker.Logger, Endpoint, job.Handle, job.Function);
            await job.FailAsync().ConfigureAwait(false);
            if (!Lane.ReleasesOnJobEnd) Lane.Release();
            return;
        }

        bool accepted;
        try
        {
            accepted = await Lane.Target.SendAsync(job, worker.Aborting).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            accepted = false;
        }

        if (!accepted)
        {
            GearmanWorker.Log.JobDeclined(worker.Logger, job.Handle, job.Function);
            await job.FailAsync().ConfigureAwait(false);
            if (!Lane.ReleasesOnJobEnd) Lane.Release();
        }
    }

    private static async ValueTask<WorkerEvent?> ReadAsync(WorkerConnection connection, CancellationToken cancellationToken)
    {
        var reader = connection.Events;
        while (true)
        {
            if (reader.TryRead(out var e)) return e;
            try
            {
                if (!await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false)) return null;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The channel completed with the connection's error; OnClosed has logged it.
                return null;
            }
        }
    }

    /// <summary>
    /// Sends on this thread rather than waking the write loop. When this runs inside a job's end (the credit was handed
    /// over inline), the packet joins the job's result in one write.
    /// </summary>
    private static bool SendInline(WorkerConnection connection, PacketType type)
    {
        using (PacketOutbox.SendInline())
        {
            return connection.Outbox.Send(type);
        }
    }
}
