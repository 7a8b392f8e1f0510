using System.Buffers;
using System.Reactive.Linq;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Protocol;
using Microsoft.Extensions.Logging;

namespace Gearman.Reactive.Client;

/// <summary>
/// A Gearman client: submits jobs to one or more job servers and exposes each as a cold
/// <see cref="IObservable{T}"/> of <see cref="TaskEvent"/>s. Thread-safe; create one per application and share it.
/// </summary>
/// <remarks>
/// <para>One TCP connection per server, opened on first use, with one read loop and one write loop; any number of
/// submits are pipelined on it. A server that cannot be reached is skipped and retried after a back-off.</para>
/// <para>Gearman has no way to cancel a job: disposing a subscription, cancelling a token or a timeout only detaches
/// this client from the job, which keeps running on its worker.</para>
/// </remarks>
public sealed partial class GearmanClient : IAsyncDisposable
{
    private readonly ServerSession[] _sessions;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly CancellationToken _shutdownToken;
    private readonly ITimer? _responseTimer;
    private int _roundRobin = -1;
    private int _disposed;

    /// <summary>Creates a client; it connects lazily, on the first request to each server.</summary>
    /// <exception cref="ArgumentException">The options are invalid (no servers, a malformed address, a non-positive timeout).</exception>
    public GearmanClient(GearmanClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        Options = options;
        _shutdownToken = _shutdown.Token;
        var logger = options.LoggerFactory.CreateLogger<GearmanClient>();
        var endpoints = options.Servers.Select(ServerEndpoint.Parse).ToArray();
        if (endpoints.Distinct().Count() != endpoints.Length) throw new ArgumentException("A job server is listed twice.", nameof(options));
        _sessions = new ServerSession[endpoints.Length];
        for (int i = 0; i < endpoints.Length; i++) _sessions[i] = new ServerSession(this, i, endpoints[i], logger);
        if (options.ResponseTimeout != Timeout.InfiniteTimeSpan)
        {
            var period = TimeSpan.FromTicks(Math.Clamp(options.ResponseTimeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond));
            _responseTimer = options.TimeProvider.CreateTimer(static s => ((GearmanClient)s!).CheckResponseTimeouts(), this, period, period);
        }
    }

    /// <summary>The options this client was created with.</summary>
    public GearmanClientOptions Options { get; }

    /// <summary>Cancelled when the client is disposed.</summary>
    internal CancellationToken ShutdownToken => _shutdownToken;

    /// <summary>One per configured server, in order (for tests).</summary>
    internal IReadOnlyList<ServerSession> Sessions => _sessions;

    /// <summary>
    /// Describes a job; each subscription submits it once (the observable is cold: share one run with
    /// <c>Publish().RefCount()</c> or <c>Replay()</c>).
    /// </summary>
    /// <remarks>
    /// <para>A foreground job yields <see cref="TaskEventKind.Created"/>, then any number of
    /// <see cref="TaskEventKind.Data"/>, <see cref="TaskEventKind.Warning"/> and <see cref="TaskEventKind.Status"/> events
    /// in the order the worker sent them, then <see cref="TaskEventKind.Completed"/> followed by OnCompleted.
    /// WORK_FAIL ends it with <see cref="GearmanJobFailedException"/>, WORK_EXCEPTION with <see cref="GearmanJobException"/>,
    /// an ERROR reply with <see cref="GearmanServerErrorException"/>, a lost server with <see cref="GearmanConnectionException"/>,
    /// and <see cref="GearmanJobOptions.Timeout"/> with <see cref="TimeoutException"/>.</para>
    /// <para>A background job yields <see cref="TaskEventKind.Created"/> and completes.</para>
    /// <para>Disposing the subscription detaches: Gearman cannot cancel a job, so it keeps running on its worker.</para>
    /// <para>The payload is read when each subscription submits: do not change its bytes while the observable is in use.</para>
    /// </remarks>
    /// <param name="function">The function name (at most 512 UTF-8 bytes).</param>
    /// <param name="payload">The job's workload.</param>
    /// <param name="options">Priority, unique ID, background, epoch time, reducer, timeout; default <see cref="GearmanJobOptions.Default"/>.</param>
    /// <exception cref="ArgumentException">An argument is invalid; thrown here, not on subscription.</exception>
    public IObservable<TaskEvent> Submit(string function, ReadOnlyMemory<byte> payload, GearmanJobOptions? options = null)
    {
        var request = SubmitRequest.Create(function, payload, options, Options.MaxPacketSize);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return Observable.Create<TaskEvent>((observer, cancellationToken) => ObserveAsync(request, observer, cancellationToken));
    }

    /// <summary>
    /// Runs a foreground job and returns its result: as libgearman's <c>gearman_client_do</c>, the payloads of all
    /// <see cref="TaskEventKind.Data"/> events followed by the <see cref="TaskEventKind.Completed"/> payload.
    /// </summary>
    /// <param name="function">The function name.</param>
    /// <param name="payload">The job's workload.</param>
    /// <param name="options">Job options; must not be background (use <see cref="SubmitBackgroundAsync"/>).</param>
    /// <param name="progress">Receives the worker's <c>WORK_STATUS</c> reports, if given.</param>
    /// <param name="cancellationToken">Detaches from the job (which keeps running) and throws <see cref="OperationCanceledException"/>.</param>
    /// <exception cref="GearmanJobFailedException">The worker failed the job.</exception>
    /// <exception cref="GearmanJobException">The worker raised an exception; its data is in the exception.</exception>
    /// <exception cref="GearmanServerErrorException">The server refused the job.</exception>
    /// <exception cref="GearmanConnectionException">No server could take the job, or its server was lost while it ran.</exception>
    /// <exception cref="TimeoutException"><see cref="GearmanJobOptions.Timeout"/> expired.</exception>
    public ValueTask<ReadOnlyMemory<byte>> ExecuteAsync(
        string function,
        ReadOnlyMemory<byte> payload,
        GearmanJobOptions? options = null,
        IProgress<JobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        var request = SubmitRequest.Create(function, payload, options, Options.MaxPacketSize);
        if (request.Background) throw new ArgumentException("ExecuteAsync runs foreground jobs; use SubmitBackgroundAsync for background jobs.", nameof(options));
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return ExecuteCoreAsync(request, progress, cancellationToken);
    }

    /// <summary>Submits a background job (whatever <see cref="GearmanJobOptions.Background"/> says) and returns its handle once the server has accepted it.</summary>
    /// <param name="function">The function name.</param>
    /// <param name="payload">The job's workload.</param>
    /// <param name="options">Job options: priority, unique ID, <see cref="GearmanJobOptions.RunAt"/>, reducer, timeout.</param>
    /// <param name="cancellationToken">Stops waiting for the acknowledgement (the job may still have been queued).</param>
    public ValueTask<JobHandle> SubmitBackgroundAsync(
        string function,
        ReadOnlyMemory<byte> payload,
        GearmanJobOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        options ??= GearmanJobOptions.Default;
        var request = SubmitRequest.Create(function, payload, options.Background ? options : options with { Background = true }, Options.MaxPacketSize);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return SubmitBackgroundCoreAsync(request, cancellationToken);
    }

    /// <summary>The connection to the first server (for tests).</summary>
    internal ValueTask<GearmanConnection> ConnectionForTestsAsync(CancellationToken cancellationToken) => _sessions[0].GetConnectionAsync(cancellationToken);

    /// <summary>Asks the job's server about it (<c>GET_STATUS</c>).</summary>
    /// <param name="job">The job, as returned by <see cref="SubmitBackgroundAsync"/> or carried by every <see cref="TaskEvent"/>.</param>
    /// <param name="cancellationToken">Stops waiting; <see cref="GearmanClientOptions.ResponseTimeout"/> bounds the wait too.</param>
    /// <exception cref="ArgumentException"><paramref name="job"/> names a server this client does not use.</exception>
    public ValueTask<JobStatus> GetStatusAsync(JobHandle job, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(job.Handle, nameof(job));
        if (job.Handle.Length > ServerSession.MaxHandleBytes) throw new ArgumentException("The handle is too long.", nameof(job));
        PacketArgument.ThrowIfContainsNul(job.Handle, nameof(job), "A job handle");
        var session = FindSession(job.Server) ?? throw new ArgumentException($"Job server '{job.Server}' is not one of this client's servers.", nameof(job));
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return QueryAsync(session, new StatusRequest(PendingKind.Status, job.Handle), cancellationToken);
    }

    /// <summary>
    /// Asks about the job with a unique ID (<c>GET_STATUS_UNIQUE</c>, which reports the number of waiting clients too):
    /// first the server the ID hashes to, then the others, until one knows the job.
    /// </summary>
    /// <param name="unique">The unique ID the job was submitted with.</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    public ValueTask<JobStatus> GetStatusByUniqueAsync(string unique, CancellationToken cancellationToken = default)
    {
        ValidateUnique(unique);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return GetStatusByUniqueCoreAsync(unique, cancellationToken);
    }

    /// <summary>
    /// Polls a job's status every <paramref name="interval"/> (cold: each subscription polls on its own). Emits each
    /// status; after the first one that is not <see cref="JobStatus.IsKnown"/> (the job has finished) it completes.
    /// </summary>
    /// <param name="job">The job to watch.</param>
    /// <param name="interval">Time between polls.</param>
    public IObservable<JobStatus> ObserveStatus(JobHandle job, TimeSpan interval)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        _ = FindSession(job.Server) ?? throw new ArgumentException($"Job server '{job.Server}' is not one of this client's servers.", nameof(job));
        return Poll(ct => GetStatusAsync(job, ct), interval);
    }

    /// <summary>Like <see cref="ObserveStatus"/>, by unique ID (<see cref="GetStatusByUniqueAsync"/>).</summary>
    /// <param name="unique">The unique ID the job was submitted with.</param>
    /// <param name="interval">Time between polls.</param>
    public IObservable<JobStatus> ObserveStatusByUnique(string unique, TimeSpan interval)
    {
        ValidateUnique(unique);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        return Poll(ct => GetStatusByUniqueAsync(unique, ct), interval);
    }

    /// <summary>
    /// Closes every connection. Jobs still followed end with <see cref="ObjectDisposedException"/> (they keep running on
    /// their servers). Idempotent.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_responseTimer is not null) await _responseTimer.DisposeAsync().ConfigureAwait(false);
        await _shutdown.CancelAsync().ConfigureAwait(false);
        foreach (var session in _sessions) await session.DisposeAsync().ConfigureAwait(false);
        _shutdown.Dispose();
    }

    /// <summary>Sends a job whose server died before acknowledging it to another server; fails it if none is left.</summary>
    internal void Resubmit(ClientJob job, string lostServer, Exception cause) => _ = ResubmitAsync(job, lostServer, cause);

    private static void ValidateUnique(string unique, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(unique))] string paramName = "")
    {
        ArgumentException.ThrowIfNullOrEmpty(unique, paramName);
        if (System.Text.Encoding.UTF8.GetByteCount(unique) > SubmitRequest.MaxUniqueBytes)
        {
            throw new ArgumentException($"A unique ID has at most {SubmitRequest.MaxUniqueBytes} UTF-8 bytes.", paramName);
        }

        PacketArgument.ThrowIfContainsNul(unique, paramName, "A unique ID");
    }

    private static void Validate(GearmanClientOptions options)
    {
        if (options.Servers is not { Count: > 0 }) throw new ArgumentException("At least one job server is required.", nameof(options));
        if (options.Servers.Count > 64) throw new ArgumentException("At most 64 job servers are supported.", nameof(options));
        if (options.MaxPacketSize <= 0) throw new ArgumentException("MaxPacketSize must be positive.", nameof(options));
        foreach (var (name, value) in (ReadOnlySpan<(string, TimeSpan)>)[
                     (nameof(options.ConnectTimeout), options.ConnectTimeout),
                     (nameof(options.ResponseTimeout), options.ResponseTimeout)])
        {
            if (value != Timeout.InfiniteTimeSpan && value <= TimeSpan.Zero) throw new ArgumentException($"{name} must be positive or infinite.", nameof(options));
        }

        if (options.ReconnectDelay < TimeSpan.Zero || options.MaxReconnectDelay < options.ReconnectDelay)
        {
            throw new ArgumentException("ReconnectDelay must be non-negative and at most MaxReconnectDelay.", nameof(options));
        }

        ArgumentNullException.ThrowIfNull(options.LoggerFactory);
        ArgumentNullException.ThrowIfNull(options.TimeProvider);
        if (options.ClientId is { } clientId) PacketArgument.ThrowIfContainsNul(clientId, nameof(options), "The client ID (GearmanClientOptions.ClientId)");
    }

    private IObservable<JobStatus> Poll(Func<CancellationToken, ValueTask<JobStatus>> query, TimeSpan interval)
        => Observable.Create<JobStatus>(async (observer, cancellationToken) =>
        {
            while (true)
            {
                var status = await query(cancellationToken).ConfigureAwait(false);
                observer.OnNext(status);
                if (!status.IsKnown) return;
                await Task.Delay(interval, Options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
        });

    private ServerSession? FindSession(string? server)
    {
        if (string.IsNullOrEmpty(server)) return null;
        foreach (var s in _sessions)
        {
            if (s.Name == server) return s;
        }

        // Accept another spelling of a configured endpoint (for example without the default port).
        try
        {
            var endpoint = ServerEndpoint.Parse(server);
            foreach (var s in _sessions)
            {
                if (s.Endpoint == endpoint) return s;
            }
        }
        catch (FormatException)
        {
        }

        return null;
    }

    private void CheckResponseTimeouts()
    {
        foreach (var session in _sessions) session.CheckResponseTimeout();
    }
}
