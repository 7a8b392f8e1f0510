using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;

namespace Gearman.Tests.Integration.Worker;

/// <summary>
/// A job server played by the test, packet by packet, on <c>127.0.0.1:0</c>: it accepts connections, shows what the
/// worker sends, and sends what the test tells it to. For exact wire-order assertions that a real server cannot give.
/// </summary>
internal sealed class ScriptedJobServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Channel<ScriptedConnection> _accepted = Channel.CreateUnbounded<ScriptedConnection>();
    private readonly List<ScriptedConnection> _connections = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    public ScriptedJobServer()
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public int Port { get; }

    public string Address => $"127.0.0.1:{Port}";

    /// <summary>Waits for the worker's next connection.</summary>
    public async Task<ScriptedConnection> AcceptAsync(TimeSpan? timeout = null)
        => await _accepted.Reader.ReadAsync().AsTask().WaitAsync(timeout ?? WorkerTestKit.WaitLimit);

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        try
        {
            await _acceptLoop;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        List<ScriptedConnection> connections;
        lock (_connections) connections = [.. _connections];
        foreach (var c in connections) await c.DisposeAsync();
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var socket = await _listener.AcceptSocketAsync(_stop.Token);
            var connection = new ScriptedConnection(socket);
            lock (_connections) _connections.Add(connection);
            _accepted.Writer.TryWrite(connection);
        }
    }
}

/// <summary>One accepted worker connection.</summary>
internal sealed class ScriptedConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _reader;
    private int _disposed;

    public ScriptedConnection(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = PipeReader.Create(_stream);
    }

    /// <summary>Reads the worker's next packet.</summary>
    public async Task<RawPacket> ReadAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? WorkerTestKit.WaitLimit);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _reader.ReadAsync(cts.Token);
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                throw new TimeoutException("The worker sent no packet in time.");
            }

            var buffer = result.Buffer;
            if (PacketReader.TryRead(ref buffer, 1 << 20, out var packet, out _) == PacketReadStatus.Packet)
            {
                var raw = new RawPacket((uint)packet.Magic, (uint)packet.Type, packet.Body.ToArray());
                _reader.AdvanceTo(buffer.Start);
                return raw;
            }

            _reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (result.IsCompleted) throw new EndOfStreamException("The worker closed the connection.");
        }
    }

    /// <summary>Reads the next packet and checks its type; returns its fields as strings.</summary>
    public async Task<IReadOnlyList<string>> ExpectAsync(PacketType type, TimeSpan? timeout = null)
    {
        var p = await ReadAsync(timeout);
        if (p.Type != (uint)type) throw new InvalidDataException($"Expected {type}, got {p}");
        return p.Strings();
    }

    /// <summary>True when the worker closes the connection (after sending nothing more) within the timeout.</summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan? timeout = null)
    {
        try
        {
            var p = await ReadAsync(timeout);
            throw new InvalidDataException($"Expected the worker to close, got {p}");
        }
        catch (EndOfStreamException)
        {
            return true;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Sends a response packet with UTF-8 fields.</summary>
    public async Task SendAsync(PacketType type, params string[] fields)
    {
        var bytes = RawGearmanConnection.Encode(PacketMagic.Response, type, [.. fields.Select(f => Encoding.UTF8.GetBytes(f))]);
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Drops the connection (RST), as a crashing server would.</summary>
    public void Abort()
    {
        _socket.LingerState = new LingerOption(true, 0);
        _socket.Close();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _reader.CompleteAsync();
        await _stream.DisposeAsync();
    }
}
