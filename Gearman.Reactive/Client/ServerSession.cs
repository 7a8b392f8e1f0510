using System.Text;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Diagnostics;
using Gearman.Reactive.Protocol;
using Microsoft.Extensions.Logging;

namespace Gearman.Reactive.Client;

/// <summary>
/// The client's side of one job server: a lazily opened <see cref="GearmanConnection"/>, reconnect back-off, the
/// requests awaiting a reply in send order, and the running foreground jobs by handle. All of it is guarded by one
/// short lock, taken by submitters and by the connection's read loop (one packet at a time).
/// </summary>
internal sealed partial class ServerSession : IPacketHandler
{
    /// <summary>Handles longer than this are not ours (gearmand's limit is 63 bytes).</summary>
    internal const int MaxHandleBytes = 256;

    private readonly GearmanClient _client;
    private readonly GearmanClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ClientJob> _running = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ClientJob>.AlternateLookup<ReadOnlySpan<char>> _runningByChars;
    private readonly Dictionary<string, ClientJob> _coalescing = new(StringComparer.Ordinal);
    private GearmanConnection? _connection;
    private TaskCompletionSource<GearmanConnection>? _connecting;
    private PendingRequest? _oldest;
    private PendingRequest? _newest;
    private long _retryAt;
    private TimeSpan _backoff;
    private Exception? _lastError;
    private bool _disposed;
    private bool _wasConnected;
    private bool _connectionCounted;

    public ServerSession(GearmanClient client, int index, ServerEndpoint endpoint, ILogger logger)
    {
        _client = client;
        _options = client.Options;
        _time = _options.TimeProvider;
        _logger = logger;
        _backoff = _options.ReconnectDelay;
        _runningByChars = _running.GetAlternateLookup<ReadOnlySpan<char>>();
        Index = index;
        Endpoint = endpoint;
        Name = endpoint.ToString();
        NameHash = ServerSelector.Hash(Encoding.UTF8.GetBytes(Name));
    }

    /// <summary>Position in <see cref="GearmanClientOptions.Servers"/>.</summary>
    public int Index { get; }

    public ServerEndpoint Endpoint { get; }

    /// <summary><c>host:port</c>, as in <see cref="JobHandle.Server"/>.</summary>
    public string Name { get; }

    /// <summary>Hash of <see cref="Name"/> for rendezvous hashing.</summary>
    public ulong NameHash { get; }

    public ulong Bit => 1UL << Index;

    /// <summary>The open connection, if any (for tests).</summary>
    internal GearmanConnection? CurrentConnection
    {
        get
        {
            lock (_lock) return _connection;
        }
    }

    /// <summary>True when no request on the connection awaits its reply (read without the lock: a hint).</summary>
    public bool AwaitsNoReply => Volatile.Read(ref _oldest) is null;

    /// <summary>
    /// True while the server is skipped: no open connection, no connect in progress, and the back-off after the last
    /// failure has not elapsed. <paramref name="lastError"/> then says why.
    /// </summary>
    public bool IsBackingOff(out Exception? lastError)
    {
        lock (_lock)
        {
            lastError = _lastError;
            if (_connection is { IsOpen: true } || _connecting is not null) return false;
            return _retryAt != 0 && _time.GetTimestamp() < _retryAt;
        }
    }

    /// <summary>The open connection, or a shared connect attempt when there is none.</summary>
    public ValueTask<GearmanConnection> GetConnectionAsync(CancellationToken cancellationToken)
    {
        TaskCompletionSource<GearmanConnection> connecting;
        bool start = false;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, typeof(GearmanClient));
            if (_connection is { IsOpen: true } open) return new(open);
            if (_connecting is null)
            {
                // Waiters resume on the thread that completes the connect (outside any lock; see Complete), one after
                // the other: a burst of submits on a new client (a map job's 1,000 reducer jobs) would otherwise cost a
                // thread-pool work item each (measured: about 850 per map job).
                _connecting = new();
                start = true;
            }

            connecting = _connecting;
        }

        if (start) _ = ConnectAsync(connecting);
        return new(connecting.Task.WaitAsync(cancellationToken));
    }

    /// <summary>
    /// Lists <paramref name="job"/> as awaiting JOB_CREATED and queues its submit packet, or joins it to a job already
    /// submitted here with the same coalescing key (gearmand would otherwise send this connection every packet of
    /// that job twice). False when <paramref name="connection"/> is no longer this session's open connection.
    /// </summary>
    public bool TryEnqueue(ClientJob job, GearmanConnection connection)
    {
        lock (_lock)
        {
            if (_connection != connection || !connection.IsOpen) return false;
            job.TriedServers |= Bit;
            string? key = job.Request.CoalescingKey;
            if (key is not null && _coalescing.TryGetValue(key, out var existing))
            {
                Join(existing, job);
                return true;
            }

            Append(job);
            if (!job.Request.Write(connection.Outbox, job.GeneratedUnique))
            {
                Unlink(job);
                return false;
            }

            job.Session = this;
            job.State = JobState.AwaitingCreated;
            if (key is not null) _coalescing[key] = job;
            return true;
        }
    }

    /// <summary>Queues GET_STATUS or GET_STATUS_UNIQUE; false when <paramref name="connection"/> is no longer open.</summary>
    public bool TrySend(StatusRequest request, GearmanConnection connection)
    {
        Span<byte> key = stackalloc byte[Math.Max(MaxHandleBytes, SubmitRequest.MaxUniqueBytes)];
        key = request.Kind == PendingKind.Status
            ? key[..Encoding.Latin1.GetBytes(request.Key, key)]
            : key[..Encoding.UTF8.GetBytes(request.Key, key)];
        var type = request.Kind == PendingKind.Status ? PacketType.GetStatus : PacketType.GetStatusUnique;
        lock (_lock)
        {
            if (_connection != connection || !connection.IsOpen) return false;
            Append(request);
            if (connection.Outbox.Send(type, key)) return true;
            Unlink(request);
            return false;
        }
    }

    /// <summary>
    /// Closes the connection when its oldest request has waited longer than <see cref="GearmanClientOptions.ResponseTimeout"/>:
    /// the server is alive at the TCP level but not answering, so its submits move elsewhere.
    /// </summary>
    public void CheckResponseTimeout()
    {
        GearmanConnection? stuck = null;
        lock (_lock)
        {
            if (_oldest is { } oldest && _connection is { } connection && _time.GetElapsedTime(oldest.SentAt) > _options.ResponseTimeout)
            {
                stuck = connection;
            }
        }

        if (stuck is null) return;
        var error = new GearmanConnectionException(
            $"Job server {Name} did not answer within {_options.ResponseTimeout.TotalMilliseconds:0} ms (ResponseTimeout); closing the connection.");
        TearDown(stuck, error);
        _ = DisposeQuietlyAsync(stuck);
    }

    /// <summary>Fails what is in flight with <see cref="ObjectDisposedException"/> and closes the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        GearmanConnection? connection;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            connection = _connection;
        }

        if (connection is null) return;
        TearDown(connection, new ObjectDisposedException(nameof(GearmanClient), "The Gearman client was disposed."));
        await connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>An OPTION_REQ was refused: the connection works on without that option.</summary>
    public void OnOptionRefused(string option, Exception error) => Log.OptionRefused(_logger, Name, option, error.Message);

    void IPacketHandler.OnClosed(GearmanConnection connection, Exception? error)
        => TearDown(connection, error ?? new GearmanConnectionException($"The connection to job server {Name} was closed."));

    private static async Task DisposeQuietlyAsync(GearmanConnection connection)
    {
        try
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Closing a connection we already gave up on: nothing to report.
        }
    }

    private async Task ConnectAsync(TaskCompletionSource<GearmanConnection> connecting)
    {
        GearmanConnection? connection = null;
        try
        {
            connection = await GearmanConnection.ConnectAsync(
                Endpoint, this, _options.ConnectTimeout, (uint)_options.MaxPacketSize, _client.ShutdownToken, TlsConnector.Select(Endpoint, _options.Tls, _options.ServerTls), _options.Transport).ConfigureAwait(false);
            lock (_lock)
            {
                _connecting = null;
                if (_disposed) throw new ObjectDisposedException(nameof(GearmanClient));
                if (!connection.IsOpen)
                {
                    // The server may have sent garbage before we got here: its cause is the useful part.
                    var cause = connection.CloseError;
                    throw new GearmanConnectionException($"Job server {Name} closed the connection at once{(cause is null ? "." : $": {cause.Message}")}", cause);
                }

                _connection = connection;
                _backoff = _options.ReconnectDelay;
                _retryAt = 0;
                _lastError = null;
                Handshake(connection);

                // Counted under the lock, so that TearDown (which takes it too) cannot uncount it first.
                _connectionCounted = GearmanMetrics.ClientConnectionOpened(Endpoint, reconnect: _wasConnected);
                _wasConnected = true;
            }

            Log.Connected(_logger, Name);
            Complete(connecting, connection, null);
        }
        catch (Exception ex)
        {
            Exception error = ex switch
            {
                GearmanConnectionException or ObjectDisposedException => ex,
                OperationCanceledException => new ObjectDisposedException(nameof(GearmanClient), "The Gearman client was disposed."),
                _ => new GearmanConnectionException($"Could not connect to job server {Name}: {ex.Message}", ex),
            };
            lock (_lock)
            {
                _connecting = null;
                if (!_disposed) BackOff(error);
            }

            if (connection is not null) await DisposeQuietlyAsync(connection).ConfigureAwait(false);
            Log.ConnectFailed(_logger, Name, ConnectFailureReason(error));
            Complete(connecting, null, error);
        }
    }

    /// <summary>
    /// Completes a connect attempt; its waiters resume on this thread, one after the other, where .NET lets them (no
    /// synchronization context or task scheduler of a caller's here). Elsewhere, as when the connect completed at once
    /// on a thread that runs a worker handler's scheduler, .NET would queue every waiter to the pool on its own, so one
    /// work item completes the attempt there instead.
    /// </summary>
    private static void Complete(TaskCompletionSource<GearmanConnection> connecting, GearmanConnection? connection, Exception? error)
    {
        if (SynchronizationContext.Current is null && TaskScheduler.Current == TaskScheduler.Default)
        {
            SetOutcome(connecting, connection, error);
            return;
        }

        ThreadPool.UnsafeQueueUserWorkItem(static s => SetOutcome(s.Connecting, s.Connection, s.Error), (Connecting: connecting, Connection: connection, Error: error), preferLocal: false);

        static void SetOutcome(TaskCompletionSource<GearmanConnection> connecting, GearmanConnection? connection, Exception? error)
        {
            if (error is null) connecting.SetResult(connection!);
            else connecting.SetException(error);
        }
    }

    /// <summary>
    /// Why a connect failed, without the "Could not connect to job server X" that the connection's exception already
    /// starts with and the log message says itself.
    /// </summary>
    private static string ConnectFailureReason(Exception error)
        => error is GearmanConnectionException { InnerException: { } cause } ? cause.Message : error.Message;

    /// <summary>What libgearman sends before the first request on a connection (protocol.md §5.1). Under the lock.</summary>
    private void Handshake(GearmanConnection connection)
    {
        if (_options.ClientId is { Length: > 0 } id) connection.Outbox.Send(PacketType.SetClientId, Encoding.UTF8.GetBytes(id));
        if (_options.EnableExceptions)
        {
            // Pipelined: the server handles packets in order, so submits queued behind it already get exceptions.
            Append(new OptionRequest(this, "exceptions"));
            connection.Outbox.Send(PacketType.OptionReq, "exceptions"u8);
        }
    }

    /// <summary>Skip this server for a while (<see cref="ReconnectBackoff"/>). Under the lock.</summary>
    private void BackOff(Exception error)
    {
        _lastError = error;
        _retryAt = _time.GetTimestamp() + (long)(ReconnectBackoff.Jittered(_backoff).TotalSeconds * _time.TimestampFrequency);
        _backoff = ReconnectBackoff.Next(_backoff, _options.MaxReconnectDelay);
    }

    /// <summary>
    /// The connection is gone: submits not yet acknowledged are retried on another server (they cannot have run
    /// here to completion, and a foreground job dies with its server); running jobs and status queries fail.
    /// </summary>
    private void TearDown(GearmanConnection connection, Exception error)
    {
        List<ClientJob>? resubmit = null;
        List<ClientJob>? lost = null;
        List<StatusRequest>? queries = null;
        bool disposed;
        lock (_lock)
        {
            if (_connection != connection) return;
            _connection = null;
            if (_connectionCounted)
            {
                _connectionCounted = false;
                GearmanMetrics.ClientConnectionClosed(Endpoint);
            }

            disposed = _disposed;
            if (!disposed) BackOff(error);
            for (var request = _oldest; request is not null; request = request.Next)
            {
                if (request is ClientJob job)
                {
                    job.Session = null;
                    if (!disposed && job.HasSubscribers)
                    {
                        job.State = JobState.Queued;
                        (resubmit ??= []).Add(job);
                    }
                    else
                    {
                        (lost ??= []).Add(job);
                    }
                }
                else if (request is StatusRequest query)
                {
                    (queries ??= []).Add(query);
                }
            }

            _oldest = _newest = null;
            foreach (var job in _running.Values)
            {
                job.Session = null;
                (lost ??= []).Add(job);
            }

            _running.Clear();
            _coalescing.Clear();
        }

        if (error is not ObjectDisposedException) Log.ConnectionLost(_logger, Name, error.Message);
        if (queries is not null)
        {
            foreach (var query in queries) query.Fail(error);
        }

        if (lost is not null)
        {
            foreach (var job in lost)
            {
                job.Complete(error is ObjectDisposedException or GearmanProtocolException || job.State != JobState.Running
                    ? error
                    : new GearmanConnectionException(
                        $"Lost the connection to job server {Name} while job {job.Handle.Handle} of '{job.Request.Function}' was running; " +
                        $"its result cannot be recovered: {error.Message}",
                        error));
            }
        }

        if (resubmit is not null)
        {
            foreach (var job in resubmit)
            {
                Log.Resubmitting(_logger, job.Request.Function, Name);
                _client.Resubmit(job, Name, error);
            }
        }
    }

    /// <summary>Attaches the consumers of <paramref name="job"/> to <paramref name="existing"/>. Under the lock.</summary>
    private void Join(ClientJob existing, ClientJob job)
    {
        job.State = JobState.Done;
        var moved = job.MoveSubscribersTo(existing);
        if (existing.State != JobState.Running) return;
        var created = TaskEvent.ForCreated(existing.Handle);
        foreach (var s in moved)
        {
            if (!s.IsDetached) s.Publish(created);
        }
    }

    private void Append(PendingRequest request)
    {
        request.SentAt = _time.GetTimestamp();
        request.Next = null;
        request.Previous = _newest;
        if (_newest is null) _oldest = request;
        else _newest.Next = request;
        _newest = request;
    }

    private void Unlink(PendingRequest request)
    {
        if (request.Previous is null) _oldest = request.Next;
        else request.Previous.Next = request.Next;
        if (request.Next is null) _newest = request.Previous;
        else request.Next.Previous = request.Previous;
        request.Next = request.Previous = null;
    }

    /// <summary>Forgets a job that will receive nothing more. Under the lock.</summary>
    private void Retire(ClientJob job)
    {
        if (job.State == JobState.Running) _running.Remove(job.Handle.Handle);
        if (job.Request.CoalescingKey is { } key && _coalescing.TryGetValue(key, out var indexed) && indexed == job) _coalescing.Remove(key);
        job.Session = null;
        job.State = JobState.Done;
    }
}
