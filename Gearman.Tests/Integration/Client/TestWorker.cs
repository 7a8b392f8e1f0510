using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;

namespace Gearman.Tests.Integration.Client;

/// <summary>
/// A worker made of raw packets (so client tests do not depend on the SDK worker): registers functions, grabs with
/// GRAB_JOB_ALL, sleeps with PRE_SLEEP until NOOP, and runs one job at a time through a scripted handler that sends
/// WORK_* packets itself.
/// </summary>
internal sealed class TestWorker : IAsyncDisposable
{
    private static readonly TimeSpan Forever = Timeout.InfiniteTimeSpan;

    private readonly RawGearmanConnection _connection;
    private readonly Func<TestJob, Task> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _registered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    private TestWorker(RawGearmanConnection connection, Func<TestJob, Task> handler)
    {
        _connection = connection;
        _handler = handler;
    }

    /// <summary>Every job this worker was assigned, in order.</summary>
    public ConcurrentQueue<TestJob> Jobs { get; } = new();

    /// <summary>The loop; faults if the handler or the connection failed.</summary>
    public Task Completion => _loop;

    public static Task<TestWorker> StartAsync(IServerUnderTest server, string function, Func<TestJob, Task> handler)
        => StartAsync(server.Host, server.Port, [function], handler);

    public static async Task<TestWorker> StartAsync(string host, int port, IReadOnlyList<string> functions, Func<TestJob, Task> handler)
    {
        var connection = await RawGearmanConnection.ConnectAsync(host, port);
        var worker = new TestWorker(connection, handler);
        worker._loop = Task.Run(() => worker.RunAsync(functions));
        await worker._registered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        return worker;
    }

    /// <summary>A handler that completes each job with <paramref name="result"/>.</summary>
    public static Func<TestJob, Task> Completing(Func<TestJob, string> result) => job => job.CompleteAsync(result(job));

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _stop.Cancel();
        await _connection.DisposeAsync();
        try
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception)
        {
            // Stopping: the loop ends with the connection.
        }

        _stop.Dispose();
    }

    internal Task SendAsync(PacketType type, params string[] fields) => _connection.SendAsync(type, fields);

    internal Task SendAsync(PacketType type, params byte[][] fields) => _connection.SendAsync(PacketMagic.Request, type, fields);

    /// <summary>Round trip through the server: everything sent before has been processed when this returns.</summary>
    internal async Task SyncAsync()
    {
        string token = Guid.NewGuid().ToString("N");
        await _connection.SendAsync(PacketType.EchoReq, token);
        while (true)
        {
            var p = await _connection.ReadPacketAsync(TimeSpan.FromSeconds(10), _stop.Token);
            if (p.Type == (uint)PacketType.EchoRes && p.BodyText == token) return;
        }
    }

    private async Task RunAsync(IReadOnlyList<string> functions)
    {
        foreach (var f in functions) await _connection.SendAsync(PacketType.CanDo, f);
        await SyncAsync();
        _registered.TrySetResult();
        while (!_stop.IsCancellationRequested)
        {
            await _connection.SendAsync(PacketType.GrabJobAll);
            var packet = await NextAsync(p => p.Type is (uint)PacketType.NoJob or (uint)PacketType.JobAssignUniq or (uint)PacketType.JobAssignAll);
            if (packet.Type == (uint)PacketType.NoJob)
            {
                await _connection.SendAsync(PacketType.PreSleep);
                await NextAsync(p => p.Type == (uint)PacketType.Noop);
                continue;
            }

            var fields = packet.Fields();
            var job = new TestJob(
                this,
                Encoding.Latin1.GetString(fields[0]),
                Encoding.UTF8.GetString(fields[1]),
                Encoding.UTF8.GetString(fields[2]),
                packet.Type == (uint)PacketType.JobAssignAll ? Encoding.UTF8.GetString(fields[3]) : null,
                fields[^1]);
            Jobs.Enqueue(job);
            await _handler(job);
        }
    }

    private async Task<RawPacket> NextAsync(Func<RawPacket, bool> wanted)
    {
        while (true)
        {
            var p = await _connection.ReadPacketAsync(Forever, _stop.Token);
            if (wanted(p)) return p;
            if (p.Type != (uint)PacketType.Noop) throw new InvalidDataException($"Test worker got an unexpected {p}");
        }
    }
}

/// <summary>A job held by a <see cref="TestWorker"/>; its methods send WORK_* packets for it.</summary>
internal sealed class TestJob(TestWorker worker, string handle, string function, string unique, string? reducer, byte[] payload)
{
    public string Handle { get; } = handle;

    public string Function { get; } = function;

    public string Unique { get; } = unique;

    /// <summary>Set when the job came as JOB_ASSIGN_ALL with a reducer.</summary>
    public string? Reducer { get; } = reducer;

    public byte[] Payload { get; } = payload;

    public string PayloadText => Encoding.UTF8.GetString(Payload);

    public Task StatusAsync(long numerator, long denominator)
        => worker.SendAsync(PacketType.WorkStatus, Handle, numerator.ToString(CultureInfo.InvariantCulture), denominator.ToString(CultureInfo.InvariantCulture));

    public Task DataAsync(string data) => worker.SendAsync(PacketType.WorkData, Handle, data);

    public Task WarningAsync(string data) => worker.SendAsync(PacketType.WorkWarning, Handle, data);

    public Task CompleteAsync(string result) => worker.SendAsync(PacketType.WorkComplete, Handle, result);

    public Task FailAsync() => worker.SendAsync(PacketType.WorkFail, Handle);

    public Task ExceptionAsync(string data) => worker.SendAsync(PacketType.WorkException, Handle, data);

    /// <summary>Waits until the server has processed everything this worker sent.</summary>
    public Task SyncAsync() => worker.SyncAsync();
}
