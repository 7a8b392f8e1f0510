using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using Gearman.Reactive.Protocol;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// A bare TCP connection to a job server for byte-level tests: write packets, raw bytes or admin lines, and read
/// packets or admin lines with a timeout. A background pump copies the socket into a pipe, so a timed-out read
/// loses nothing and the next read sees the same bytes.
/// </summary>
internal sealed class RawGearmanConnection : IAsyncDisposable
{
    /// <summary>Default bound for every read.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private const uint MaxBody = 64u << 20;

    private readonly Socket _socket;
    private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
    private readonly Task _pump;
    private readonly CancellationTokenSource _stop = new();
    private int _disposed;

    private readonly System.Net.Security.SslStream? _tls;

    private RawGearmanConnection(Socket socket, System.Net.Security.SslStream? tls = null)
    {
        _socket = socket;
        _tls = tls;
        _pump = Task.Run(PumpAsync);
    }

    /// <summary>True once the server has closed (or reset) the connection and every received byte was read.</summary>
    public bool ServerClosed { get; private set; }

    /// <summary>Connects to <paramref name="host"/>:<paramref name="port"/>.</summary>
    public static async Task<RawGearmanConnection> ConnectAsync(string host, int port, CancellationToken ct = default)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(DefaultTimeout);
            await socket.ConnectAsync(host, port, timeout.Token);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new RawGearmanConnection(socket);
    }

    /// <summary>
    /// Connects to <paramref name="host"/>:<paramref name="port"/> over TLS; the handshake's exception (an
    /// <see cref="System.Security.Authentication.AuthenticationException"/> or <see cref="IOException"/>) propagates.
    /// </summary>
    public static async Task<RawGearmanConnection> ConnectTlsAsync(string host, int port, System.Net.Security.SslClientAuthenticationOptions tls, CancellationToken ct = default)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        System.Net.Security.SslStream? ssl = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(DefaultTimeout);
            await socket.ConnectAsync(host, port, timeout.Token);
            ssl = new System.Net.Security.SslStream(new NetworkStream(socket, ownsSocket: true));
            await ssl.AuthenticateAsClientAsync(tls, timeout.Token);
        }
        catch
        {
            if (ssl is not null) await ssl.DisposeAsync();
            socket.Dispose();
            throw;
        }

        return new RawGearmanConnection(socket, ssl);
    }

    /// <summary>Connects to <paramref name="server"/>.</summary>
    public static Task<RawGearmanConnection> ConnectAsync(IServerUnderTest server, CancellationToken ct = default)
        => ConnectAsync(server.Host, server.Port, ct);

    /// <summary>Encodes a request packet (magic <c>\0REQ</c>) with UTF-8 fields; no NUL after the last field.</summary>
    public static byte[] Encode(PacketType type, params string[] fields)
        => Encode(PacketMagic.Request, type, [.. fields.Select(f => Encoding.UTF8.GetBytes(f))]);

    /// <summary>Encodes a packet with any magic and byte fields, through the shared <see cref="PacketWriter"/>.</summary>
    public static byte[] Encode(PacketMagic magic, PacketType type, params byte[][] fields)
    {
        var buffer = new ArrayBufferWriter<byte>();
        switch (fields.Length)
        {
            case 0: PacketWriter.Write(buffer, magic, type); break;
            case 1: PacketWriter.Write(buffer, magic, type, fields[0]); break;
            case 2: PacketWriter.Write(buffer, magic, type, fields[0], fields[1]); break;
            case 3: PacketWriter.Write(buffer, magic, type, fields[0], fields[1], fields[2]); break;
            case 4: PacketWriter.Write(buffer, magic, type, fields[0], fields[1], fields[2], fields[3]); break;
            case 5: PacketWriter.Write(buffer, magic, type, fields[0], fields[1], fields[2], fields[3], fields[4]); break;
            case 6: PacketWriter.Write(buffer, magic, type, fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]); break;
            default:
                // SUBMIT_JOB_SCHED (8 fields): header by the writer, fields joined by hand.
                byte[] body = [.. fields.SelectMany((f, i) => i < fields.Length - 1 ? [.. f, (byte)0] : f)];
                var header = new byte[PacketReader.HeaderLength];
                PacketWriter.WriteHeader(header, magic, type, (uint)body.Length);
                buffer.Write(header);
                buffer.Write(body);
                break;
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Sends a request packet with UTF-8 fields.</summary>
    public Task SendAsync(PacketType type, params string[] fields) => SendRawAsync(Encode(type, fields));

    /// <summary>Sends a packet with byte fields and any magic.</summary>
    public Task SendAsync(PacketMagic magic, PacketType type, params byte[][] fields) => SendRawAsync(Encode(magic, type, fields));

    /// <summary>
    /// Sends bytes as they are. A send the server has already reset is not an error here: tests that expect a close
    /// assert it by reading (<see cref="WaitForServerCloseAsync"/>), and the rest fail on their next read.
    /// </summary>
    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct = default)
    {
        try
        {
            if (_tls is not null)
            {
                await _tls.WriteAsync(bytes, ct);
                await _tls.FlushAsync(ct);
                return;
            }

            while (!bytes.IsEmpty)
            {
                int n = await _socket.SendAsync(bytes, SocketFlags.None, ct);
                bytes = bytes[n..];
            }
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted)
        {
        }
        catch (IOException) when (_tls is not null)
        {
        }
    }

    /// <summary>Sends an admin text command; <c>\n</c> is appended unless <paramref name="line"/> already ends with one.</summary>
    public Task SendAdminAsync(string line, CancellationToken ct = default)
        => SendRawAsync(Encoding.UTF8.GetBytes(line.EndsWith('\n') ? line : line + "\n"), ct);

    /// <summary>Reads the next binary packet; throws <see cref="TimeoutException"/> if none arrives in time and <see cref="EndOfStreamException"/> if the server closed.</summary>
    public async Task<RawPacket> ReadPacketAsync(TimeSpan? timeout = null, CancellationToken ct = default)
    {
        using var cts = Deadline(timeout, ct);
        while (true)
        {
            var result = await ReadAsync(cts, timeout, "a packet");
            var buffer = result.Buffer;
            var status = PacketReader.TryRead(ref buffer, MaxBody, out var packet, out uint size);
            switch (status)
            {
                case PacketReadStatus.Packet:
                    var raw = new RawPacket((uint)packet.Magic, (uint)packet.Type, packet.Body.ToArray());
                    _pipe.Reader.AdvanceTo(buffer.Start);
                    return raw;
                case PacketReadStatus.InvalidMagic:
                    string head = RawPacket.Printable(result.Buffer.Slice(0, Math.Min(result.Buffer.Length, 64)).ToArray());
                    _pipe.Reader.AdvanceTo(result.Buffer.Start);
                    throw new InvalidDataException($"Expected a binary packet, got: {head}");
                case PacketReadStatus.TooLarge:
                    _pipe.Reader.AdvanceTo(result.Buffer.Start);
                    throw new InvalidDataException($"Packet body of {size} bytes exceeds the test limit.");
                default:
                    _pipe.Reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                    if (result.IsCompleted) throw Closed(result.Buffer.Length, "a packet");
                    break;
            }
        }
    }

    /// <summary>Reads the next packet and checks its type; returns it.</summary>
    public async Task<RawPacket> ExpectPacketAsync(PacketType type, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var packet = await ReadPacketAsync(timeout, ct);
        if (packet.Type != (uint)type) throw new InvalidDataException($"Expected {type}, got {packet}");
        return packet;
    }

    /// <summary>Reads one text line (admin reply) without its LF; <paramref name="keepCr"/> keeps a CR before the LF.</summary>
    public async Task<string> ReadLineAsync(TimeSpan? timeout = null, bool keepCr = false, CancellationToken ct = default)
    {
        using var cts = Deadline(timeout, ct);
        while (true)
        {
            var result = await ReadAsync(cts, timeout, "a line");
            var buffer = result.Buffer;
            var newline = buffer.PositionOf((byte)'\n');
            if (newline is { } at)
            {
                string line = Encoding.UTF8.GetString(buffer.Slice(0, at).ToArray());
                _pipe.Reader.AdvanceTo(buffer.GetPosition(1, at));
                return keepCr || !line.EndsWith('\r') ? line : line[..^1];
            }

            _pipe.Reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted) throw Closed(buffer.Length, "a line");
        }
    }

    /// <summary>Reads admin lines up to the terminating <c>.</c> line, which is not included.</summary>
    public async Task<IReadOnlyList<string>> ReadListAsync(TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var lines = new List<string>();
        while (true)
        {
            string line = await ReadLineAsync(timeout, ct: ct);
            if (line == ".") return lines;
            lines.Add(line);
        }
    }

    /// <summary>Sends an admin command and reads its one-line reply.</summary>
    public async Task<string> AdminAsync(string command, TimeSpan? timeout = null)
    {
        await SendAdminAsync(command);
        return await ReadLineAsync(timeout);
    }

    /// <summary>Sends an admin command and reads its <c>.</c>-terminated list reply.</summary>
    public async Task<IReadOnlyList<string>> AdminListAsync(string command, TimeSpan? timeout = null)
    {
        await SendAdminAsync(command);
        return await ReadListAsync(timeout);
    }

    /// <summary>
    /// Waits until the server closes the connection. True when it closed within <paramref name="timeout"/> and sent
    /// nothing more; false when it is still open at the deadline. Throws if it sent bytes instead.
    /// </summary>
    public async Task<bool> WaitForServerCloseAsync(TimeSpan? timeout = null, CancellationToken ct = default)
    {
        using var cts = Deadline(timeout, ct);
        try
        {
            var result = await _pipe.Reader.ReadAsync(cts.Token);
            var buffer = result.Buffer;
            _pipe.Reader.AdvanceTo(buffer.Start, buffer.End);
            if (!buffer.IsEmpty) throw new InvalidDataException($"Expected the server to close, got bytes: {RawPacket.Printable(buffer.ToArray())}");
            if (result.IsCompleted) ServerClosed = true;
            return result.IsCompleted;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>
    /// Asserts that nothing arrives within <paramref name="quiet"/> (for "the server sends no NOOP" expectations).
    /// This necessarily waits the whole period: keep it short.
    /// </summary>
    public async Task ExpectNothingAsync(TimeSpan quiet, CancellationToken ct = default)
    {
        using var cts = Deadline(quiet, ct);
        try
        {
            var result = await _pipe.Reader.ReadAsync(cts.Token);
            var buffer = result.Buffer;
            _pipe.Reader.AdvanceTo(buffer.Start, buffer.End);
            if (!buffer.IsEmpty) throw new InvalidDataException($"Expected silence, got: {RawPacket.Printable(buffer.ToArray())}");
            if (result.IsCompleted) throw new EndOfStreamException("Expected silence, but the server closed the connection.");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // Quiet as expected.
        }
    }

    /// <summary>Closes the client side of the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already gone.
        }

        _socket.Dispose();
        if (_tls is not null) await _tls.DisposeAsync();
        try
        {
            await _pump.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is OperationCanceledException or TimeoutException)
        {
            // The pump ends on its own once the socket is disposed.
        }

        _pipe.Reader.Complete();
        _stop.Dispose();
    }

    private static CancellationTokenSource Deadline(TimeSpan? timeout, CancellationToken ct)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout ?? DefaultTimeout);
        return cts;
    }

    private async Task<ReadResult> ReadAsync(CancellationTokenSource cts, TimeSpan? timeout, string what)
    {
        try
        {
            return await _pipe.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"No complete {what} within {timeout ?? DefaultTimeout}.");
        }
    }

    private EndOfStreamException Closed(long pending, string what)
    {
        ServerClosed = true;
        return new EndOfStreamException($"The server closed the connection while waiting for {what} ({pending} bytes pending).");
    }

    private async Task PumpAsync()
    {
        var writer = _pipe.Writer;
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(8192);
                int n = _tls is not null ? await _tls.ReadAsync(memory, _stop.Token) : await _socket.ReceiveAsync(memory, SocketFlags.None, _stop.Token);
                if (n == 0) break;
                writer.Advance(n);
                await writer.FlushAsync(_stop.Token);
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException or IOException
                                   || (ex is InvalidOperationException && Volatile.Read(ref _disposed) != 0))
        {
            // A reset counts as a close, as does our own dispose (a disposed SslStream reports itself unauthenticated).
        }

        await writer.CompleteAsync();
    }
}
