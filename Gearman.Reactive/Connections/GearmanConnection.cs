using System.IO.Pipelines;
using System.Net.Sockets;
using Gearman.Reactive.Protocol;

namespace Gearman.Reactive.Connections;

/// <summary>
/// One TCP connection to a job server: a read loop that frames packets and hands them to an <see cref="IPacketHandler"/>,
/// and a write loop that drains a <see cref="PacketOutbox"/>. Reconnecting is the owner's business: a closed connection
/// stays closed.
/// </summary>
internal sealed class GearmanConnection : IAsyncDisposable
{
    /// <summary>
    /// Queued bytes above which the SDK's <c>...Async</c> sends wait for the socket to drain (<see cref="PacketOutbox.WaitForRoomAsync"/>):
    /// a server that stops reading holds up its senders instead of making this process's memory grow without bound.
    /// </summary>
    public const int SendHighWaterMark = 1 << 20;

    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly IPacketHandler _handler;
    private readonly uint _maxPacketSize;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly TaskCompletionSource<Exception?> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _readLoop = Task.CompletedTask;
    private Task _writeLoop = Task.CompletedTask;
    private int _disposed;
    private Exception? _closeError;

    private GearmanConnection(ServerEndpoint endpoint, Socket socket, Stream stream, IPacketHandler handler, uint maxPacketSize)
    {
        Endpoint = endpoint;
        _socket = socket;
        _stream = stream;
        _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 4096, leaveOpen: true));
        _output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true));
        _handler = handler;
        _maxPacketSize = maxPacketSize;
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

    /// <summary>Connects (with <paramref name="tls"/>, over TLS) and starts the read and write loops.</summary>
    /// <exception cref="GearmanConnectionException">The server could not be reached in time, or the TLS handshake failed.</exception>
    public static async Task<GearmanConnection> ConnectAsync(
        ServerEndpoint endpoint, IPacketHandler handler, TimeSpan connectTimeout, uint maxPacketSize, CancellationToken cancellationToken, GearmanTlsOptions? tls = null)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            if (connectTimeout != Timeout.InfiniteTimeSpan) timeout.CancelAfter(connectTimeout);
            await socket.ConnectAsync(endpoint.Host, endpoint.Port, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            var timedOut = new TimeoutException($"Timed out after {connectTimeout.TotalMilliseconds:0} ms.");
            throw new GearmanConnectionException($"Could not connect to job server {endpoint}: {timedOut.Message}", timedOut);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new GearmanConnectionException($"Could not connect to job server {endpoint}: {ex.Message}", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        Stream stream = new NetworkStream(socket, ownsSocket: true);
        if (tls is not null) stream = await TlsConnector.AuthenticateAsync(stream, endpoint, tls, cancellationToken).ConfigureAwait(false);
        var connection = new GearmanConnection(endpoint, socket, stream, handler, maxPacketSize);
        connection.Start();
        return connection;
    }

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
            await _writeLoop.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Already reported through Closed, or timed out: we close regardless.
        }

        await _shutdown.CancelAsync().ConfigureAwait(false);
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        await Task.WhenAll(_readLoop, _writeLoop).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        Outbox.Dispose();
        _shutdown.Dispose();
        Close(null);
    }

    private void Start()
    {
        _readLoop = Task.Run(ReadLoopAsync);
        _writeLoop = Task.Run(WriteLoopAsync);
    }

    private async Task WriteLoopAsync()
    {
        try
        {
            await Outbox.RunAsync(_output, _shutdown.Token).ConfigureAwait(false);
            await _output.CompleteAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Close(new GearmanConnectionException($"Lost the connection to job server {Endpoint} while writing: {ex.Message}", ex));
            AbortSocket();
        }
    }

    private async Task ReadLoopAsync()
    {
        Exception? error = null;
        long discarding = 0; // bytes of an oversized packet still to be read past
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync(_shutdown.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    while (true)
                    {
                        if (discarding > 0)
                        {
                            // Consumed as it arrives, so an oversized body never occupies more than one read's worth of memory.
                            long skipped = Math.Min(discarding, buffer.Length);
                            buffer = buffer.Slice(skipped);
                            discarding -= skipped;
                            if (discarding > 0) break;
                        }

                        var status = PacketReader.TryRead(ref buffer, _maxPacketSize, out var packet, out uint size);
                        if (status == PacketReadStatus.Incomplete) break;
                        if (status == PacketReadStatus.InvalidMagic)
                        {
                            throw new GearmanProtocolException($"Job server {Endpoint} sent bytes that are not a Gearman packet (bad magic).");
                        }

                        if (status == PacketReadStatus.TooLarge)
                        {
                            var type = PacketReader.PeekType(buffer);
                            int headLength = _handler.OversizedHeadLength(type);
                            if (headLength <= 0)
                            {
                                throw new GearmanProtocolException($"Job server {Endpoint} announced a packet of {size} bytes, over the limit of {_maxPacketSize} bytes.");
                            }

                            long head = Math.Min(size, headLength);
                            if (buffer.Length < PacketReader.HeaderLength + head) break;
                            _handler.OnOversizedPacket(this, type, size, buffer.Slice(PacketReader.HeaderLength, head));
                            discarding = PacketReader.HeaderLength + (long)size;
                            continue;
                        }

                        _handler.OnPacket(this, packet);
                    }

                    if (result.IsCompleted)
                    {
                        if (!buffer.IsEmpty)
                        {
                            error = new GearmanConnectionException($"Job server {Endpoint} closed the connection in the middle of a packet.");
                        }
                        else if (Volatile.Read(ref _disposed) == 0)
                        {
                            error = new GearmanConnectionException($"Job server {Endpoint} closed the connection.");
                        }

                        break;
                    }
                }
                finally
                {
                    _input.AdvanceTo(buffer.Start, buffer.End);
                }
            }
        }
        catch (OperationCanceledException) when (_shutdown.IsCancellationRequested)
        {
        }
        catch (GearmanException ex)
        {
            error = ex;
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            if (Volatile.Read(ref _disposed) == 0)
            {
                error = new GearmanConnectionException($"Lost the connection to job server {Endpoint}: {ex.Message}", ex);
            }
        }
        catch (Exception ex)
        {
            error = ex;
        }

        await _input.CompleteAsync().ConfigureAwait(false);
        Close(error);
        if (error is not null) AbortSocket();
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

    private void AbortSocket()
    {
        try
        {
            _socket.Close(0);
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
