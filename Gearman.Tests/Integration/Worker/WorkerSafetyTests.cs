using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.Connections;
using Gearman.Reactive.Protocol;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Xunit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.Worker;

/// <summary>
/// The worker under poison jobs and slow peers: a job over MaxPacketSize fails alone and the connection stays; sends to
/// a server that stops reading wait at the high-water mark; reconnect warnings are one line; functions added after
/// StartAsync are served.
/// </summary>
[Trait("Category", "Integration")]
public sealed class WorkerSafetyTests
{
    private const int SmallLimit = 64 * 1024;

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_job_over_MaxPacketSize_fails_alone_and_the_worker_keeps_its_connection(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        var logs = new CapturingLoggerFactory();
        string function = TestNames.Unique("poison");
        await using var worker = await StartWorkerAsync(Options(server) with { MaxPacketSize = SmallLimit, LoggerFactory = logs }, function, Echo);
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [$"{server.Host}:{server.Port}"] });

        // The poison job first, a good one behind it: the poison one fails with the reason, the good one runs.
        var poison = client.ExecuteAsync(function, new byte[4 * SmallLimit]).AsTask();
        var good = client.ExecuteAsync(function, Bytes("fine")).AsTask();
        var error = await Assert.ThrowsAsync<GearmanJobException>(() => poison.Within());
        Assert.Contains($"over this worker's MaxPacketSize of {SmallLimit} bytes", Text(error.ExceptionData), StringComparison.Ordinal);
        Assert.Equal("fine", Text(await good.Within()));
        Assert.Equal("fine again", Text(await client.ExecuteAsync(function, Bytes("fine again")).AsTask().Within()));

        // One connection all along: no reconnect loop.
        Assert.Single(logs.Named("Connected"));
        Assert.Empty(logs.Named("ConnectionLost"));
        Assert.Single(logs.Named("JobTooLarge"));
    }

    [Fact(Timeout = 30_000)]
    public async Task An_oversized_assignment_arriving_in_pieces_is_read_past_and_failed_with_WORK_FAIL_without_exceptions()
    {
        await using var server = new ScriptedJobServer();
        await using var worker = await StartWorkerAsync(server.WorkerOptions() with { MaxPacketSize = SmallLimit, SendExceptions = false }, "f", Echo);
        var conn = await server.AcceptAsync();
        await conn.ExpectAsync(PacketType.CanDo);
        await conn.ExpectAsync(PacketType.GrabJobAll);

        // JOB_ASSIGN_ALL of 1 MiB, in 64 KiB writes, then an ordinary job on the same connection.
        byte[] packet = RawGearmanConnection.Encode(
            PacketMagic.Response, PacketType.JobAssignAll, Bytes("H:big"), Bytes("f"), Bytes("u-1"), [], new byte[1 << 20]);
        for (int at = 0; at < packet.Length; at += SmallLimit) await conn.SendRawAsync(packet[at..Math.Min(packet.Length, at + SmallLimit)]);
        Assert.Equal(["H:big"], await conn.ExpectAsync(PacketType.WorkFail));
        await conn.ExpectAsync(PacketType.GrabJobAll);

        await conn.SendAsync(PacketType.JobAssign, "H:2", "f", "small");
        Assert.Equal(["H:2", "small"], await conn.ExpectAsync(PacketType.WorkComplete));
        await conn.ExpectAsync(PacketType.GrabJobAll);
    }

    [Fact(Timeout = 60_000)]
    public async Task SendDataAsync_waits_while_the_server_does_not_read_and_everything_arrives_once_it_reads()
    {
        const int Chunks = 64;
        const int ChunkSize = 256 * 1024; // 16 MiB in all
        await using var server = new ScriptedJobServer();
        int sent = 0;
        var started = new TaskCompletionSource<GearmanJob>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = await StartWorkerAsync(server.WorkerOptions(), "stream", async (job, ct) =>
        {
            started.TrySetResult(job);
            var chunk = new byte[ChunkSize];
            for (int i = 0; i < Chunks; i++)
            {
                await job.SendDataAsync(chunk, ct);
                Interlocked.Increment(ref sent);
            }

            return Bytes("done");
        });
        var conn = await server.AcceptAsync();
        await conn.ExpectAsync(PacketType.CanDo);
        await conn.ExpectAsync(PacketType.GrabJobAll);
        await conn.SendAsync(PacketType.JobAssign, "H:1", "stream", "go");

        // The server reads nothing more: the handler is held up with its queue at the mark.
        var outbox = (await started.Task.Within()).Connection.Outbox;
        long bound = GearmanConnection.SendHighWaterMark + ChunkSize + 1024;
        Assert.True(SpinWait.SpinUntil(() => outbox.PendingBytes >= GearmanConnection.SendHighWaterMark, WaitLimit), "the queue never reached the mark");
        int heldAt = Volatile.Read(ref sent);
        Assert.InRange(heldAt, 1, Chunks - 1);
        Assert.InRange(outbox.PendingBytes, 0, bound);

        // It reads: every chunk arrives in order, then the result.
        using var sampler = PeakSampler.Start(() => outbox.PendingBytes);
        for (int i = 0; i < Chunks; i++) Assert.Equal(ChunkSize, (await conn.ExpectAsync(PacketType.WorkData))[1].Length);
        Assert.Equal(["H:1", "done"], await conn.ExpectAsync(PacketType.WorkComplete));
        Assert.Equal(Chunks, Volatile.Read(ref sent));
        Assert.InRange(sampler.Peak, 0, bound);
    }

    [Fact(Timeout = 30_000)]
    public async Task Reconnect_warnings_carry_the_reason_and_no_stack_trace()
    {
        var logs = new CapturingLoggerFactory();
        await using (var unreachable = new GearmanWorker(GearmanWorkerOptions.Default with
        {
            Servers = [$"127.0.0.1:{LoopbackPorts.Unused()}"],
            ReconnectDelay = TimeSpan.FromMilliseconds(20),
            LoggerFactory = logs,
        }))
        {
            unreachable.AddFunction("f", Echo, GearmanFunctionOptions.Default);
            await unreachable.StartAsync(Ct);
            var failed = await logs.FirstAsync(2003).Within();
            Assert.Null(failed.Exception);
            Assert.Contains("refused", failed.Message, StringComparison.OrdinalIgnoreCase);
        }

        await using var server = new ScriptedJobServer();
        await using var worker = await StartWorkerAsync(server.WorkerOptions() with { LoggerFactory = logs }, "f", Echo);
        var conn = await server.AcceptAsync();
        await conn.ExpectAsync(PacketType.CanDo);
        conn.Abort();
        var lost = await logs.FirstAsync(2004).Within();
        Assert.Null(lost.Exception);
        Assert.Contains("job server", lost.Message, StringComparison.Ordinal);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_function_added_after_StartAsync_is_registered_live(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        await using var worker = new GearmanWorker(Options(server));
        await worker.StartAsync(Ct);
        string late = TestNames.Unique("late");
        worker.AddFunction(late, Replying(job => "late " + Text(job.Workload)), GearmanFunctionOptions.Default);

        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [$"{server.Host}:{server.Port}"] });
        Assert.Equal("late call", Text(await client.ExecuteAsync(late, Bytes("call")).AsTask().Within()));

        await worker.StopAsync(Ct);
        Assert.Throws<ObjectDisposedException>(() => worker.AddFunction(TestNames.Unique("too_late"), Echo, GearmanFunctionOptions.Default));
    }
}
