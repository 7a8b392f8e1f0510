using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Integration.Client;

/// <summary>
/// A scripted job server on a loopback port: the test accepts each client connection, reads the packets the client
/// sends and writes whatever replies it wants, malformed ones included.
/// </summary>
internal sealed class FakeJobServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Channel<FakeConnection> _accepted = Channel.CreateUnbounded<FakeConnection>();
    private readonly List<FakeConnection> _connections = [];
    private readonly Task _acceptLoop;

    private FakeJobServer(TcpListener listener)
    {
        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public int Port { get; }

    /// <summary><c>127.0.0.1:port</c>, as a client lists it.</summary>
    public string Address => $"127.0.0.1:{Port}";

    public static FakeJobServer Start(int port = 0)
    {
        var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();
        return new FakeJobServer(listener);
    }

    /// <summary>The next client connection.</summary>
    public async Task<FakeConnection> AcceptAsync(TimeSpan? timeout = null)
        => await _accepted.Reader.ReadAsync().AsTask().WaitAsync(timeout ?? TimeSpan.FromSeconds(10));

    /// <summary>The next client connection, after answering its OPTION_REQ exceptions.</summary>
    public async Task<FakeConnection> AcceptAndHandshakeAsync()
    {
        var c = await AcceptAsync();
        var option = await c.ExpectAsync(PacketType.OptionReq);
        Assert.Equal("exceptions", option.BodyText);
        await c.SendAsync(PacketType.OptionRes, "exceptions");
        return c;
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        try
        {
            await _acceptLoop.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception)
        {
        }

        FakeConnection[] connections;
        lock (_connections) connections = [.. _connections];
        foreach (var c in connections) await c.DisposeAsync();
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptSocketAsync();
                var c = new FakeConnection(socket);
                lock (_connections) _connections.Add(c);
                _accepted.Writer.TryWrite(c);
            }
        }
        catch (Exception)
        {
            _accepted.Writer.TryComplete();
        }
    }
}

/// <summary>One client connection to a <see cref="FakeJobServer"/>.</summary>
internal sealed class FakeConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _reader;
    private int _disposed;

    public FakeConnection(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = PipeReader.Create(_stream);
    }

    /// <summary>Reads the next packet the client sent.</summary>
    public async Task<RawPacket> ReadAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _reader.ReadAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException("The client sent no packet in time.");
            }

            var buffer = result.Buffer;
            var status = PacketReader.TryRead(ref buffer, 1 << 24, out var packet, out _);
            if (status == PacketReadStatus.Packet)
            {
                var raw = new RawPacket((uint)packet.Magic, (uint)packet.Type, packet.Body.ToArray());
                _reader.AdvanceTo(buffer.Start);
                return raw;
            }

            if (status != PacketReadStatus.Incomplete) throw new InvalidDataException($"The client sent garbage ({status}).");
            _reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted) throw new EndOfStreamException("The client closed the connection.");
        }
    }

    /// <summary>Reads the next packet and checks its type.</summary>
    public async Task<RawPacket> ExpectAsync(PacketType type, TimeSpan? timeout = null)
    {
        var p = await ReadAsync(timeout);
        Assert.True(p.Type == (uint)type, $"Expected {type}, got {p}");
        return p;
    }

    /// <summary>Reads a submit packet; returns its fields as strings.</summary>
    public async Task<IReadOnlyList<string>> ExpectSubmitAsync(PacketType type = PacketType.SubmitJob)
        => (await ExpectAsync(type)).Strings();

    /// <summary>Sends a response packet with UTF-8 fields (no NUL after the last).</summary>
    public Task SendAsync(PacketType type, params string[] fields)
        => SendRawAsync(RawGearmanConnection.Encode(PacketMagic.Response, type, [.. fields.Select(f => Encoding.UTF8.GetBytes(f))]));

    /// <summary>Answers a submit with JOB_CREATED <paramref name="handle"/> and at once WORK_COMPLETE with <paramref name="result"/>.</summary>
    public async Task CompleteJobAsync(string handle, string result)
    {
        await SendAsync(PacketType.JobCreated, handle);
        await SendAsync(PacketType.WorkComplete, handle, result);
    }

    /// <summary>Sends a response packet whose body is exactly <paramref name="body"/>.</summary>
    public Task SendBodyAsync(PacketType type, string body)
        => SendRawAsync(RawGearmanConnection.Encode(PacketMagic.Response, type, Encoding.UTF8.GetBytes(body)));

    public async Task SendRawAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Drops the connection at once (RST).</summary>
    public void Abort()
    {
        try
        {
            _socket.Close(0);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Waits until the client closes its side.</summary>
    public async Task WaitForClientCloseAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var result = await _reader.ReadAsync(cts.Token);
            _reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) return;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            await _reader.CompleteAsync();
        }
        catch (Exception)
        {
        }

        Abort();
        await _stream.DisposeAsync();
    }
}
