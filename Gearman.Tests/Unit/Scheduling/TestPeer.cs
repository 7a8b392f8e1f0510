using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Server.Networking;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Unit.Scheduling;

/// <summary>
/// A <see cref="PeerConnection"/> without a socket: its outbox drains into an in-memory pipe, from which the test
/// reads packets and admin lines exactly as a TCP peer would.
/// </summary>
internal sealed class TestPeer : IAsyncDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);

    private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
    private readonly Task _outboxLoop;
    private readonly TaskCompletionSource _aborted = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TestPeer(SchedulerHarness harness, int id, bool exceptions)
    {
        Harness = harness;
        Connection = new PeerConnection(id, "127.0.0.1", exceptions) { Abort = () => _aborted.TrySetResult() };
        _outboxLoop = Task.Run(async () =>
        {
            await Connection.Outbox.RunAsync(_pipe.Writer, CancellationToken.None);
            await _pipe.Writer.CompleteAsync();
        });
    }

    public SchedulerHarness Harness { get; }

    public PeerConnection Connection { get; }

    /// <summary>Completes when the scheduler asked the transport to close this connection.</summary>
    public Task Aborted => _aborted.Task;

    /// <summary>Posts a request packet whose fields are joined with NULs (no NUL after the last).</summary>
    public ValueTask SendAsync(PacketType type, params string[] fields) => Harness.PostPacketAsync(this, type, Encoding.UTF8.GetBytes(string.Join('\0', fields)));

    /// <summary>Posts an admin line (without its line end).</summary>
    public ValueTask AdminAsync(string line, bool crLf = false) => Harness.PostAdminLineAsync(this, line, crLf);

    /// <summary>Reads the next packet the scheduler sent this peer.</summary>
    public async Task<RawPacket> ReadPacketAsync()
    {
        using var cts = new CancellationTokenSource(ReadTimeout);
        while (true)
        {
            var result = await _pipe.Reader.ReadAsync(cts.Token);
            var buffer = result.Buffer;
            var status = PacketReader.TryRead(ref buffer, uint.MaxValue, out var packet, out _);
            if (status == PacketReadStatus.Packet)
            {
                var raw = new RawPacket((uint)packet.Magic, (uint)packet.Type, packet.Body.ToArray());
                _pipe.Reader.AdvanceTo(buffer.Start);
                return raw;
            }

            if (status == PacketReadStatus.InvalidMagic) throw new InvalidDataException($"Not a packet: {RawPacket.Printable(result.Buffer.ToArray())}");
            _pipe.Reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (result.IsCompleted) throw new EndOfStreamException("The outbox completed.");
        }
    }

    /// <summary>Reads one admin reply line, without its LF (a CR is kept).</summary>
    public async Task<string> ReadLineAsync()
    {
        using var cts = new CancellationTokenSource(ReadTimeout);
        while (true)
        {
            var result = await _pipe.Reader.ReadAsync(cts.Token);
            var buffer = result.Buffer;
            if (buffer.PositionOf((byte)'\n') is { } at)
            {
                string line = Encoding.UTF8.GetString(buffer.Slice(0, at).ToArray());
                _pipe.Reader.AdvanceTo(buffer.GetPosition(1, at));
                return line;
            }

            _pipe.Reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted) throw new EndOfStreamException("The outbox completed.");
        }
    }

    /// <summary>Reads admin lines up to the <c>.</c> line.</summary>
    public async Task<List<string>> ReadListAsync()
    {
        var lines = new List<string>();
        for (string line = await ReadLineAsync(); line != "."; line = await ReadLineAsync()) lines.Add(line);
        return lines;
    }

    /// <summary>Sends an admin command and reads its list reply.</summary>
    public async Task<List<string>> AdminListAsync(string line)
    {
        await AdminAsync(line);
        return await ReadListAsync();
    }

    /// <summary>Sends an admin command and reads its one-line reply (CR removed).</summary>
    public async Task<string> AdminLineAsync(string line)
    {
        await AdminAsync(line);
        return (await ReadLineAsync()).TrimEnd('\r');
    }

    /// <summary>Expects the next packet to be <paramref name="type"/> with exactly <paramref name="body"/>.</summary>
    public async Task<RawPacket> ExpectAsync(PacketType type, string body)
    {
        var packet = await ReadPacketAsync();
        Assert.Equal($"{type} {RawPacket.Printable(Encoding.UTF8.GetBytes(body))}", $"{packet.TypeName} {RawPacket.Printable(packet.Body)}");
        return packet;
    }

    /// <summary>A barrier: every command posted before it has been processed, and nothing was sent that the test did not read.</summary>
    public async Task SyncAsync()
    {
        string token = "sync-" + Guid.NewGuid().ToString("N");
        await SendAsync(PacketType.EchoReq, token);
        await ExpectAsync(PacketType.EchoRes, token);
    }

    /// <summary>Posts a submit and returns the handle of its JOB_CREATED.</summary>
    public async Task<string> SubmitAsync(PacketType type, string function, string unique, string data)
    {
        await SendAsync(type, function, unique, data);
        var created = await ReadPacketAsync();
        Assert.True(created.Type == (uint)PacketType.JobCreated, $"Expected JOB_CREATED, got {created}");
        return created.BodyText;
    }

    /// <summary>GRAB_JOB, expecting <c>JOB_ASSIGN H\0F\0DATA</c>.</summary>
    public async Task GrabExpectAsync(string handle, string function, string data)
    {
        await SendAsync(PacketType.GrabJob);
        await ExpectAsync(PacketType.JobAssign, $"{handle}\0{function}\0{data}");
    }

    /// <summary>GRAB_JOB, expecting NO_JOB.</summary>
    public async Task GrabExpectNothingAsync()
    {
        await SendAsync(PacketType.GrabJob);
        await ExpectAsync(PacketType.NoJob, string.Empty);
    }

    /// <summary>PRE_SLEEP, then a barrier (so no NOOP came back).</summary>
    public async Task SleepAsync()
    {
        await SendAsync(PacketType.PreSleep);
        await SyncAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Connection.Outbox.Complete();
        await _outboxLoop.WaitAsync(ReadTimeout);
        Connection.Outbox.Dispose();
        await _pipe.Reader.CompleteAsync();
    }
}
