using System.Buffers.Text;
using System.Text;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Diagnostics;
using Gearman.Reactive.Protocol;

namespace Gearman.Reactive.Worker;

/// <summary>
/// One job assigned to this worker: what the server sent (<see cref="Function"/>, <see cref="Handle"/>,
/// <see cref="UniqueId"/>, <see cref="Reducer"/>, <see cref="Workload"/>) and the way back to the clients waiting for it.
/// </summary>
/// <remarks>
/// <para>
/// While the job runs, <see cref="SendDataAsync"/>, <see cref="SendWarningAsync"/> and <see cref="SendStatusAsync"/> reach
/// every client attached to it, in the order they are called. The job ends exactly once: the first of
/// <see cref="CompleteAsync"/>, <see cref="FailAsync"/> and <see cref="FailWithExceptionAsync"/> wins and
/// later calls return false; after the end, sends are ignored.
/// </para>
/// <para>
/// The job can also end without a result: its registered timeout expires, the connection that assigned it closes, or the
/// worker stops without enough time to finish it. The server then gives the job to another worker, and
/// <see cref="CancellationToken"/> fires so the handler can stop.
/// </para>
/// <para>All members are thread-safe.</para>
/// </remarks>
public sealed class GearmanJob
{
    private const int Running = 0;
    private const int Ended = 1;
    private const int Abandoned = 2;

    private readonly WorkerConnection _connection;
    private readonly byte[] _handle;
    private readonly CancellationTokenSource _cancellation;
    private readonly bool _timed;
    private readonly TimeProvider _timeProvider;
    private readonly long _metricsStart;
    private readonly bool _countedActive;
    private int _state;

    internal GearmanJob(WorkerConnection connection, JobAssignment assignment, TimeSpan? timeout, TimeProvider timeProvider)
    {
        _connection = connection;
        _handle = assignment.Handle;
        Handle = assignment.HandleText;
        Function = assignment.Function;
        UniqueId = assignment.UniqueId;
        Reducer = assignment.Reducer;
        Workload = assignment.Workload;
        Timeout = timeout;
        _timeProvider = timeProvider;
        _metricsStart = GearmanMetrics.JobStarted(Function, timeProvider, out _countedActive);
        if (timeout is { } t)
        {
            _timed = true;
            _cancellation = new CancellationTokenSource(t, timeProvider);
            CancellationToken = _cancellation.Token;
            CancellationToken.UnsafeRegister(static s => ((GearmanJob)s!).OnTimeout(), this);
        }
        else
        {
            _cancellation = new CancellationTokenSource();
            CancellationToken = _cancellation.Token;
        }
    }

    /// <summary>The function the job was submitted to.</summary>
    public string Function { get; }

    /// <summary>The job handle the server assigned, such as <c>H:host:42</c>.</summary>
    public string Handle { get; }

    /// <summary>The unique ID the client submitted; empty when the client gave none or the server did not send it.</summary>
    public string UniqueId { get; }

    /// <summary>
    /// The reducer function of a map-reduce job (<c>JOB_ASSIGN_ALL</c> with a reducer), or null for an ordinary job.
    /// </summary>
    public string? Reducer { get; }

    /// <summary>The job's workload, as the client submitted it.</summary>
    public ReadOnlyMemory<byte> Workload { get; }

    /// <summary>
    /// Fires when the job is taken away from this worker: its timeout expired, the connection that assigned it closed,
    /// or the worker stopped before the job ended. Results sent afterwards are discarded.
    /// </summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>True once the job has ended, with a result or by being taken away.</summary>
    public bool IsEnded => Volatile.Read(ref _state) != Running;

    /// <summary>The effective timeout of the job (at least one second), or null when it has none.</summary>
    internal TimeSpan? Timeout { get; }

    /// <summary>The client's span context from the job's trace-context envelope, or null.</summary>
    internal System.Diagnostics.ActivityContext? TraceParent { get; set; }

    /// <summary>The connection the job arrived on; results go back on it.</summary>
    internal WorkerConnection Connection => _connection;

    /// <summary>Sends a chunk of result data (<c>WORK_DATA</c>) to the waiting clients; ignored once the job has ended.</summary>
    /// <remarks>
    /// The returned task is pending while the connection has more than its high-water mark queued for a server that does
    /// not read (back-pressure); await it before sending more. The same holds for the other sends and <see cref="CompleteAsync"/>.
    /// </remarks>
    /// <param name="data">The chunk.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    public ValueTask SendDataAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        => SendAsync(PacketType.WorkData, data, cancellationToken);

    /// <summary>Sends a warning (<c>WORK_WARNING</c>) to the waiting clients; ignored once the job has ended.</summary>
    /// <param name="data">The warning, usually UTF-8 text.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    public ValueTask SendWarningAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
        => SendAsync(PacketType.WorkWarning, data, cancellationToken);

    /// <summary>Reports progress (<c>WORK_STATUS</c>) to the waiting clients and to status queries; ignored once the job has ended.</summary>
    /// <param name="numerator">Work done so far.</param>
    /// <param name="denominator">Total work.</param>
    /// <param name="cancellationToken">Cancels the send.</param>
    public ValueTask SendStatusAsync(long numerator, long denominator, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!_connection.Outbox.HasRoom) return SendStatusWhenRoomAsync(numerator, denominator, cancellationToken);
        SendStatus(numerator, denominator);
        return ValueTask.CompletedTask;
    }

    /// <summary>Ends the job successfully (<c>WORK_COMPLETE</c>) with <paramref name="result"/>.</summary>
    /// <param name="result">The result; clients of libgearman's <c>do</c> see every data chunk followed by this.</param>
    /// <param name="cancellationToken">Cancels the call (also while it waits for the connection to drain).</param>
    /// <returns>True when this call ended the job and the result is on its way; false when the job had already ended.</returns>
    public ValueTask<bool> CompleteAsync(ReadOnlyMemory<byte> result = default, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!_connection.Outbox.HasRoom) return CompleteWhenRoomAsync(result, cancellationToken);
        return new ValueTask<bool>(Complete(result.Span));
    }

    /// <summary>Ends the job as failed (<c>WORK_FAIL</c>).</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>True when this call ended the job; false when it had already ended.</returns>
    public ValueTask<bool> FailAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!TryEnd(Ended, GearmanMetrics.JobOutcome.Failed)) return new ValueTask<bool>(false);
        using (PacketOutbox.SendInline())
        {
            bool sent = _connection.Outbox.Send(PacketType.WorkFail, _handle);
            OnEnded(runWaiterInline: true);
            return new ValueTask<bool>(sent);
        }
    }

    /// <summary>
    /// Ends the job as failed with an exception (<c>WORK_EXCEPTION</c> carrying <paramref name="message"/> as UTF-8).
    /// Clients that enabled exceptions receive the message; the server sends the others <c>WORK_FAIL</c>.
    /// </summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>True when this call ended the job; false when it had already ended.</returns>
    public ValueTask<bool> FailWithExceptionAsync(string message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        cancellationToken.ThrowIfCancellationRequested();
        if (!TryEnd(Ended, GearmanMetrics.JobOutcome.Exception)) return new ValueTask<bool>(false);
        using (PacketOutbox.SendInline())
        {
            bool sent = _connection.Outbox.Send(PacketType.WorkException, _handle, Encoding.UTF8.GetBytes(message));
            OnEnded(runWaiterInline: true);
            return new ValueTask<bool>(sent);
        }
    }

    /// <inheritdoc />
    public override string ToString() => $"{Function} {Handle}";

    /// <summary>
    /// Ends the job with <c>WORK_COMPLETE</c>; false when it had already ended or the connection is closed. The result
    /// is written on this thread, together with the next grab when ending the job frees a waiting grab loop's credit.
    /// </summary>
    internal bool Complete(ReadOnlySpan<byte> result)
    {
        if (!TryEnd(Ended, GearmanMetrics.JobOutcome.Completed)) return false;
        using (PacketOutbox.SendInline())
        {
            bool sent = _connection.Outbox.Send(PacketType.WorkComplete, _handle, result);
            OnEnded(runWaiterInline: true);
            return sent;
        }
    }

    /// <summary>Takes the job away without a result: the server will give it to another worker. Idempotent.</summary>
    internal bool Abandon() => Abandon(GearmanMetrics.JobOutcome.Abandoned);

    /// <summary>
    /// Gives the job back to the server to run again (libgearman's <c>GEARMAN_ERROR</c>): takes it away here, then closes
    /// the connection it arrived on, so that the server requeues it (with the other jobs that connection holds); the
    /// session reconnects on its own.
    /// </summary>
    internal ValueTask RetryAsync()
    {
        Abandon(GearmanMetrics.JobOutcome.Retried);
        return _connection.DisposeAsync();
    }

    private ValueTask SendAsync(PacketType type, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!_connection.Outbox.HasRoom) return SendWhenRoomAsync(type, data, cancellationToken);
        if (!IsEnded) _connection.Outbox.Send(type, _handle, data.Span);
        return ValueTask.CompletedTask;
    }

    private async ValueTask SendWhenRoomAsync(PacketType type, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        using (await _connection.Outbox.WaitForRoomAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!IsEnded) _connection.Outbox.Send(type, _handle, data.Span);
        }
    }

    private async ValueTask SendStatusWhenRoomAsync(long numerator, long denominator, CancellationToken cancellationToken)
    {
        using (await _connection.Outbox.WaitForRoomAsync(cancellationToken).ConfigureAwait(false))
        {
            SendStatus(numerator, denominator);
        }
    }

    private void SendStatus(long numerator, long denominator)
    {
        if (IsEnded) return;
        Span<byte> num = stackalloc byte[20];
        Span<byte> den = stackalloc byte[20];
        Utf8Formatter.TryFormat(numerator, num, out int numLength);
        Utf8Formatter.TryFormat(denominator, den, out int denLength);
        _connection.Outbox.Send(PacketType.WorkStatus, _handle, num[..numLength], den[..denLength]);
    }

    private async ValueTask<bool> CompleteWhenRoomAsync(ReadOnlyMemory<byte> result, CancellationToken cancellationToken)
    {
        using (await _connection.Outbox.WaitForRoomAsync(cancellationToken).ConfigureAwait(false))
        {
            return Complete(result.Span);
        }
    }

    private bool Abandon(GearmanMetrics.JobOutcome outcome)
    {
        if (!TryEnd(Abandoned, outcome)) return false;
        _ = _cancellation.CancelAsync();
        OnEnded();
        return true;
    }

    /// <summary>Ends the job once, recording how (before any result is written, so a client that has it sees the metrics).</summary>
    private bool TryEnd(int state, GearmanMetrics.JobOutcome outcome)
    {
        if (Interlocked.CompareExchange(ref _state, state, Running) != Running) return false;
        GearmanMetrics.JobFinished(Function, outcome, _metricsStart, _countedActive, _timeProvider);
        return true;
    }

    private void OnTimeout()
    {
        if (!TryEnd(Abandoned, GearmanMetrics.JobOutcome.Timeout)) return;
        _connection.OnJobTimedOut(this);
        OnEnded();
    }

    private void OnEnded(bool runWaiterInline = false)
    {
        // Stop the timeout timer of a job that ended in time; the token stays usable.
        if (_timed && !_cancellation.IsCancellationRequested) _cancellation.CancelAfter(System.Threading.Timeout.InfiniteTimeSpan);
        _connection.OnJobEnded(this, runWaiterInline);
    }
}
