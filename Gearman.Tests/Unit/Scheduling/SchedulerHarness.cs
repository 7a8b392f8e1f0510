using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Server.Hosting;
using Gearman.Server.Scheduling;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Gearman.Tests.Unit.Scheduling;

/// <summary>
/// A <see cref="JobScheduler"/> running its loop on a task, with a <see cref="FakeTimeProvider"/> for CAN_DO_TIMEOUT
/// and EPOCH timers, and peers that talk to it through <see cref="ServerCommand"/>s only (no sockets).
/// </summary>
internal sealed class SchedulerHarness : IAsyncDisposable
{
    /// <summary>Where the fake clock starts (a whole second, so epoch arithmetic is exact).</summary>
    public static readonly DateTimeOffset Start = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly List<TestPeer> _peers = [];
    private readonly Task _loop;
    private int _nextPeerId;

    /// <param name="options">Server options (the handle prefix defaults to <c>T</c>).</param>
    /// <param name="time">The fake clock, starting at <see cref="Start"/>; null for a plain <see cref="FakeTimeProvider"/>.</param>
    public SchedulerHarness(GearmanServerOptions? options = null, FakeTimeProvider? time = null)
    {
        Options = (options ?? new GearmanServerOptions()) with { HandlePrefix = options?.HandlePrefix ?? "T" };
        Time = time ?? new FakeTimeProvider(Start);
        Scheduler = new JobScheduler(Options, NullLogger.Instance, Time);
        _loop = Task.Run(() => Scheduler.RunAsync(CancellationToken.None));
    }

    public GearmanServerOptions Options { get; }

    public FakeTimeProvider Time { get; }

    public JobScheduler Scheduler { get; }

    /// <summary>The fake clock as Unix seconds.</summary>
    public long Now => Time.GetUtcNow().ToUnixTimeSeconds();

    /// <summary>A connected peer (the scheduler has seen its Connected command before any later one).</summary>
    public async Task<TestPeer> ConnectAsync(bool exceptions = false)
    {
        var peer = new TestPeer(this, Interlocked.Increment(ref _nextPeerId), exceptions || Options.Exceptions);
        lock (_peers) _peers.Add(peer);
        await Scheduler.PostAsync(ServerCommand.ForConnected(peer.Connection));
        return peer;
    }

    /// <summary>A connected peer with CAN_DO for each of <paramref name="functions"/>, in order.</summary>
    public async Task<TestPeer> WorkerAsync(params string[] functions)
    {
        var peer = await ConnectAsync();
        foreach (var function in functions) await peer.SendAsync(PacketType.CanDo, function);
        await peer.SyncAsync();
        return peer;
    }

    /// <summary>Reports the peer's disconnect to the scheduler.</summary>
    public ValueTask DisconnectAsync(TestPeer peer) => Scheduler.PostAsync(ServerCommand.ForDisconnected(peer.Connection));

    /// <summary>Copies <paramref name="body"/> into a request buffer (the scheduler returns or keeps it) and posts the packet.</summary>
    public ValueTask PostPacketAsync(TestPeer peer, PacketType type, byte[] body) => PostPacketAsync(peer, type, body, out _);

    /// <summary>As <see cref="PostPacketAsync(TestPeer, PacketType, byte[])"/>, giving out the buffer the scheduler was handed.</summary>
    public ValueTask PostPacketAsync(TestPeer peer, PacketType type, byte[] body, out byte[] buffer)
    {
        // As the framer does, so a body is pooled or exactly sized by its length.
        buffer = RequestBuffers.Rent(body.Length);
        body.CopyTo(buffer, 0);
        if (!PacketFields.TrySplit(PacketLayout.Of(type).Fields, buffer.AsSpan(0, body.Length), out var fields))
        {
            throw new ArgumentException($"{type} needs {PacketLayout.Of(type).Fields} fields", nameof(body));
        }

        return Scheduler.PostAsync(ServerCommand.ForPacket(peer.Connection, type, buffer, body.Length, fields));
    }

    public ValueTask PostAdminLineAsync(TestPeer peer, string line, bool crLf)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(line);
        var buffer = RequestBuffers.Rent(bytes.Length);
        bytes.CopyTo(buffer, 0);
        return Scheduler.PostAsync(ServerCommand.ForAdminLine(peer.Connection, buffer, bytes.Length, crLf));
    }

    /// <summary>Admin <c>status</c> row of one function, read through a fresh peer.</summary>
    public async Task<string?> StatusOfAsync(string function)
    {
        var admin = await ConnectAsync();
        var rows = await admin.AdminListAsync("status");
        await DisconnectAsync(admin);
        return rows.SingleOrDefault(r => r.StartsWith(function + "\t", StringComparison.Ordinal));
    }

    /// <summary>Admin <c>show jobs</c>, read through a fresh peer.</summary>
    public async Task<List<string>> ShowJobsAsync()
    {
        var admin = await ConnectAsync();
        var rows = await admin.AdminListAsync("show jobs");
        await DisconnectAsync(admin);
        rows.Sort(StringComparer.Ordinal);
        return rows;
    }

    public async ValueTask DisposeAsync()
    {
        Scheduler.Complete();
        await _loop.WaitAsync(TimeSpan.FromSeconds(10));
        TestPeer[] peers;
        lock (_peers) peers = [.. _peers];
        foreach (var peer in peers) await peer.DisposeAsync();
    }
}
