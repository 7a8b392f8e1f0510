using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Gearman.Reactive.Protocol;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// A loopback listener for a server that a test plays packet by packet: it accepts every connection, wraps it, hands it
/// to the test in order, and disposes the connections it accepted when disposed.
/// </summary>
internal abstract class ScriptedListener<TConnection> : IAsyncDisposable
    where TConnection : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<Socket, TConnection> _wrap;
    private readonly TimeSpan _acceptTimeout;
    private readonly Channel<TConnection> _accepted = Channel.CreateUnbounded<TConnection>();
    private readonly List<TConnection> _connections = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    protected ScriptedListener(int port, Func<Socket, TConnection> wrap, TimeSpan acceptTimeout)
    {
        _listener = new TcpListener(IPAddress.Loopback, port);
        _listener.Start();
        _wrap = wrap;
        _acceptTimeout = acceptTimeout;
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public int Port { get; }

    /// <summary><c>127.0.0.1:port</c>, as a client or worker lists it.</summary>
    public string Address => $"127.0.0.1:{Port}";

    /// <summary>The next connection.</summary>
    public async Task<TConnection> AcceptAsync(TimeSpan? timeout = null)
        => await _accepted.Reader.ReadAsync().AsTask().WaitAsync(timeout ?? _acceptTimeout);

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try
        {
            await _acceptLoop.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception)
        {
            // The loop ends with the listener.
        }

        TConnection[] connections;
        lock (_connections) connections = [.. _connections];
        foreach (var c in connections) await c.DisposeAsync();
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var connection = _wrap(await _listener.AcceptSocketAsync(_stop.Token));
                lock (_connections) _connections.Add(connection);
                _accepted.Writer.TryWrite(connection);
            }
        }
        finally
        {
            _accepted.Writer.TryComplete();
        }
    }
}

/// <summary>One accepted connection to a <see cref="ScriptedListener{TConnection}"/>: reads whole packets, writes bytes.</summary>
internal abstract class ScriptedPeerConnection : IAsyncDisposable
{
    private readonly NetworkStream _stream;
    private readonly uint _maxPacketSize;
    private readonly TimeSpan _readTimeout;
    private readonly string _peer;
    private int _disposed;

    /// <param name="socket">The accepted socket (owned).</param>
    /// <param name="maxPacketSize">The largest packet body read.</param>
    /// <param name="readTimeout">Bound of a read when the caller gives none.</param>
    /// <param name="peer">What is on the other side ("client", "worker"), for error messages.</param>
    protected ScriptedPeerConnection(Socket socket, uint maxPacketSize, TimeSpan readTimeout, string peer)
    {
        Socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        Reader = PipeReader.Create(_stream);
        (_maxPacketSize, _readTimeout, _peer) = (maxPacketSize, readTimeout, peer);
    }

    protected Socket Socket { get; }

    protected PipeReader Reader { get; }

    /// <summary>Reads the next packet the peer sent.</summary>
    public async Task<RawPacket> ReadAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? _readTimeout);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await Reader.ReadAsync(cts.Token);
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                throw new TimeoutException($"The {_peer} sent no packet in time.");
            }

            var buffer = result.Buffer;
            var status = PacketReader.TryRead(ref buffer, _maxPacketSize, out var packet, out _);
            if (status == PacketReadStatus.Packet)
            {
                var raw = new RawPacket((uint)packet.Magic, (uint)packet.Type, packet.Body.ToArray());
                Reader.AdvanceTo(buffer.Start);
                return raw;
            }

            if (status != PacketReadStatus.Incomplete) throw new InvalidDataException($"The {_peer} sent garbage ({status}).");
            Reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (result.IsCompleted) throw new EndOfStreamException($"The {_peer} closed the connection.");
        }
    }

    /// <summary>Sends a response packet with UTF-8 fields (no NUL after the last).</summary>
    public Task SendAsync(PacketType type, params string[] fields)
        => SendRawAsync(RawGearmanConnection.Encode(PacketMagic.Response, type, [.. fields.Select(f => Encoding.UTF8.GetBytes(f))]));

    /// <summary>Sends <paramref name="bytes"/> as they are.</summary>
    public async Task SendRawAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Drops the connection at once (RST), as a crashing server would.</summary>
    public abstract void Abort();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await OnDisposeAsync();
        await _stream.DisposeAsync();
    }

    /// <summary>What to do before the stream is disposed.</summary>
    protected abstract ValueTask OnDisposeAsync();
}
