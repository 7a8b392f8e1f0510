using System.Net.Sockets;
using Gearman.Reactive.Connections.Transports;
using Gearman.Reactive.Protocol;

namespace Gearman.Reactive.Connections;

/// <summary>
/// One TCP connection to a job server: a read loop that frames packets and hands them to an <see cref="IPacketHandler"/>,
/// and a write loop that drains a <see cref="PacketOutbox"/>, over a <see cref="ConnectionTransport"/> chosen per
/// connection. Reconnecting is the owner's business: a closed connection stays closed.
/// </summary>
internal sealed class GearmanConnection : IAsyncDisposable
{
    /// <summary>
    /// Queued bytes above which the SDK's <c>...Async</c> sends wait for the socket to drain (<see cref="PacketOutbox.WaitForRoomAsync"/>):
    /// a server that stops reading holds up its senders instead of making this process's memory grow without bound.
    /// </summary>
    public const int SendHighWaterMark = 1 << 20;

    /// <summary>The <see cref="AppContext"/> switch that makes every connection use <see cref="TransportKind.Portable"/>.</summary>
    public const string UsePortableTransportSwitch = "Gearman.Reactive.UsePortableTransport";

    private readonly ConnectionTransport _transport;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly TaskCompletionSource<Exception?> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly IPacketHandler _handler;
    private int _disposed;
    private Exception? _closeError;

    private GearmanConnection(ServerEndpoint endpoint, ConnectionTransport transport, IPacketHandler handler)
    {
        Endpoint = endpoint;
        _transport = transport;
        _handler = handler;
        Outbox = new PacketOutbox(PacketMagic.Request, highWaterMark: SendHighWaterMark);
    }

    /// <summary>The server this connection talks to.</summary>
    public ServerEndpoint Endpoint { get; }

    /// <summary>Where packets to the server are queued; thread-safe.</summary>
    public PacketOutbox Outbox { get; }

    /// <summary>Completes when the connection has closed, with the error that closed it (null for an orderly close).</summary>
    public Task<Exception?> Closed => _closed.Task;

    /// <summary>The error that closed the connection (as <see cref="Closed"/> reports it); null while open or after an orderly close.</summary>
    public Exception? CloseError => Volatile.Read(ref _closeError);

    /// <summary>Whether the connection is still open.</summary>
    public bool IsOpen => !_closed.Task.IsCompleted;

    /// <summary>The transport in use (for tests).</summary>
    internal ConnectionTransport Transport => _transport;

    /// <summary>Cancelled when the connection is being disposed: the transport's loops stop.</summary>
    internal CancellationToken Stopping => _shutdown.Token;

    /// <summary>
    /// Connects (with <paramref name="tls"/>, over TLS) and starts the read and write loops. Plaintext connections on
    /// Linux use <see cref="SocketThreadTransport"/> unless <paramref name="transport"/> or the
    /// <see cref="UsePortableTransportSwitch"/> switch asks for <see cref="TransportKind.Portable"/>.
    /// </summary>
    /// <exception cref="GearmanConnectionException">The server could not be reached in time, or the TLS handshake failed.</exception>
    public static async Task<GearmanConnection> ConnectAsync(
        ServerEndpoint endpoint,
        IPacketHandler handler,
        TimeSpan connectTimeout,
        uint maxPacketSize,
        CancellationToken cancellationToken,
        GearmanTlsOptions? tls = null,
        TransportKind transport = TransportKind.Automatic)
    {
        bool portableSwitch = AppContext.TryGetSwitch(UsePortableTransportSwitch, out bool portable) && portable;
        var chosen = UsesSocketThread(tls, transport, portableSwitch, SocketThreadTransport.IsSupported)
            ? await ConnectSocketThreadAsync(endpoint, connectTimeout, cancellationToken).ConfigureAwait(false)
            : await ConnectStreamAsync(endpoint, connectTimeout, tls, cancellationToken).ConfigureAwait(false);
        var connection = new GearmanConnection(endpoint, chosen, handler);
        chosen.Start(connection, new PacketFramer(connection, handler, maxPacketSize));
        return connection;
    }

    /// <summary>Whether a connection gets <see cref="SocketThreadTransport"/>: plaintext, supported here, and not asked to be portable.</summary>
    internal static bool UsesSocketThread(GearmanTlsOptions? tls, TransportKind transport, bool portableSwitch, bool supported)
        => tls is null && transport == TransportKind.Automatic && !portableSwitch && supported;

    /// <summary>Closes the connection: queued packets are flushed first when the server still reads.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            await _closed.Task.ConfigureAwait(false);
            return;
        }

        Outbox.Complete();
        try
        {
            await _transport.WriteLoop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Already reported through Closed, or timed out: we close regardless.
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        _transport.Shutdown();
        await Task.WhenAll(_transport.ReadLoop, _transport.WriteLoop).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
        await _transport.DisposeAsync().ConfigureAwait(false);
        Outbox.Dispose();
        _shutdown.Dispose();
        Close(null);
    }

    /// <summary>The transport's read loop has ended; <paramref name="error"/> is why (null: an orderly end or a local dispose).</summary>
    internal void ReadEnded(Exception? error)
    {
        Close(error);
        if (error is not null) _transport.Abort();
    }

    /// <summary>The transport's write loop failed.</summary>
    internal void WriteFailed(Exception ex)
    {
        Close(new GearmanConnectionException($"Lost the connection to job server {Endpoint} while writing: {ex.Message}", ex));
        _transport.Abort();
    }

    /// <summary>What closes the connection when the read loop ends with <paramref name="ex"/> (null: nothing to report).</summary>
    internal Exception? ReadError(Exception ex) => ex switch
    {
        OperationCanceledException when _shutdown.IsCancellationRequested => null,
        GearmanException => ex,
        IOException or SocketException or ObjectDisposedException => Volatile.Read(ref _disposed) != 0
            ? null
            : new GearmanConnectionException($"Lost the connection to job server {Endpoint}: {ex.Message}", ex),
        _ => ex,
    };

    /// <summary>What closes the connection when the server ends the stream (null: we are closing it ourselves).</summary>
    internal Exception? EndOfStream(bool midPacket)
    {
        if (midPacket) return new GearmanConnectionException($"Job server {Endpoint} closed the connection in the middle of a packet.");
        return Volatile.Read(ref _disposed) == 0 ? new GearmanConnectionException($"Job server {Endpoint} closed the connection.") : null;
    }

    private static async Task<ConnectionTransport> ConnectSocketThreadAsync(ServerEndpoint endpoint, TimeSpan connectTimeout, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (connectTimeout != Timeout.InfiniteTimeSpan) timeout.CancelAfter(connectTimeout);
        try
        {
            return await SocketThreadTransport.ConnectAsync(endpoint.Host, endpoint.Port, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ConnectFailure(endpoint, connectTimeout, ex, cancellationToken) is { } failure)
        {
            throw failure;
        }
    }

    private static async Task<ConnectionTransport> ConnectStreamAsync(ServerEndpoint endpoint, TimeSpan connectTimeout, GearmanTlsOptions? tls, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (connectTimeout != Timeout.InfiniteTimeSpan) timeout.CancelAfter(connectTimeout);
            await socket.ConnectAsync(endpoint.Host, endpoint.Port, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            socket.Dispose();
            if (ConnectFailure(endpoint, connectTimeout, ex, cancellationToken) is { } failure) throw failure;
            throw;
        }

        Stream stream = new NetworkStream(socket, ownsSocket: true);
        if (tls is not null) stream = await TlsConnector.AuthenticateAsync(stream, endpoint, tls, cancellationToken).ConfigureAwait(false);
        return new StreamTransport(socket, stream);
    }

    /// <summary>The <see cref="GearmanConnectionException"/> a failed connect becomes; null for the caller's own cancellation (rethrown as is).</summary>
    private static GearmanConnectionException? ConnectFailure(ServerEndpoint endpoint, TimeSpan connectTimeout, Exception ex, CancellationToken cancellationToken)
    {
        switch (ex)
        {
            case OperationCanceledException when !cancellationToken.IsCancellationRequested:
                var timedOut = new TimeoutException($"Timed out after {connectTimeout.TotalMilliseconds:0} ms.");
                return new GearmanConnectionException($"Could not connect to job server {endpoint}: {timedOut.Message}", timedOut);
            case SocketException:
                return new GearmanConnectionException($"Could not connect to job server {endpoint}: {ex.Message}", ex);
            default:
                return null;
        }
    }

    private void Close(Exception? error)
    {
        // Recorded first, so that whoever sees the connection closed can also see why.
        if (IsOpen) Interlocked.CompareExchange(ref _closeError, error, null);
        if (_closed.TrySetResult(error))
        {
            Outbox.Complete();
            _handler.OnClosed(this, error);
        }
    }
}
