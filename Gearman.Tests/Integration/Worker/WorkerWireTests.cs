using System.Collections.Concurrent;
using System.Threading.Tasks.Dataflow;
using Gearman.Reactive.Protocol;
using Gearman.Reactive.Worker;
using Microsoft.Extensions.Time.Testing;
using Xunit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.Worker;

/// <summary>
/// The worker's exact packet sequence, against a job server played by the test (<see cref="ScriptedJobServer"/>):
/// registration, grab / sleep / wake, back-pressure, reconnects, stop.
/// </summary>
[Trait("Category", "Integration")]
public sealed class WorkerWireTests
{
    private static GearmanWorkerOptions Options(params ScriptedJobServer[] servers) => GearmanWorkerOptions.Default with
    {
        Servers = [.. servers.Select(s => s.Address)],
        ReconnectDelay = TimeSpan.FromMilliseconds(20),
        MaxReconnectDelay = TimeSpan.FromMilliseconds(100),
        // The scripted server never answers the grab that is outstanding when a test ends: do not wait long for it.
        ShutdownTimeout = TimeSpan.FromSeconds(1),
        LoggerFactory = TestLogging.Factory,
    };

    /// <summary>
    /// Accepts the worker's connection and reads its one registration (its fields checked when given) and first grab.
    /// </summary>
    private static async Task<ScriptedConnection> AcceptRegisteredAsync(ScriptedJobServer server, PacketType registration = PacketType.CanDo, params string[] fields)
    {
        var conn = await server.AcceptAsync();
        var registered = await conn.ExpectAsync(registration);
        if (fields.Length > 0) Assert.Equal(fields, registered);
        await conn.ExpectAsync(PacketType.GrabJobAll);
        return conn;
    }

    [Fact(Timeout = 30_000)]
    public async Task Registers_then_grabs_sleeps_on_NO_JOB_and_grabs_again_on_NOOP()
    {
        await using var server = new ScriptedJobServer();
        await using var worker = new GearmanWorker(Options(server) with { ClientId = "worker-7" });
        var source = worker.Jobs(["resize", "crop"], GearmanFunctionOptions.Default with { Timeout = TimeSpan.FromMilliseconds(1500) });
        var jobs = new BufferBlock<GearmanJob>();
        using var link = source.LinkTo(jobs, new DataflowLinkOptions { PropagateCompletion = true });
        await worker.StartAsync(Ct);

        var conn = await server.AcceptAsync();
        Assert.Equal(["worker-7"], await conn.ExpectAsync(PacketType.SetClientId));
        Assert.Equal(["resize", "1500"], await conn.ExpectAsync(PacketType.CanDoTimeout));
        Assert.Equal(["crop", "1500"], await conn.ExpectAsync(PacketType.CanDoTimeout));
        await conn.ExpectAsync(PacketType.GrabJobAll);

        await conn.SendAsync(PacketType.NoJob);
        await conn.ExpectAsync(PacketType.PreSleep);
        await conn.SendAsync(PacketType.Noop);
        await conn.ExpectAsync(PacketType.GrabJobAll);

        // A map-reduce assignment carries the unique ID and the reducer.
        await conn.SendAsync(PacketType.JobAssignAll, "H:1", "crop", "u-1", "reducer_fn", "pay\0load");
        var job = await jobs.ReceiveAsync(WaitLimit, Ct);
        Assert.Equal(("crop", "H:1", "u-1", "reducer_fn", "pay\0load"), (job.Function, job.Handle, job.UniqueId, job.Reducer, Text(job.Workload)));

        // Capacity 1: the next grab waits for the job to end.
        Assert.True(await job.CompleteAsync(Bytes("done"), Ct));
        Assert.Equal(["H:1", "done"], await conn.ExpectAsync(PacketType.WorkComplete));
        await conn.ExpectAsync(PacketType.GrabJobAll);

        // JOB_ASSIGN (no unique) and JOB_ASSIGN_UNIQ are accepted too.
        await conn.SendAsync(PacketType.JobAssign, "H:2", "resize", "plain");
        job = await jobs.ReceiveAsync(WaitLimit, Ct);
        Assert.Equal(("resize", "H:2", string.Empty, (string?)null, "plain"), (job.Function, job.Handle, job.UniqueId, job.Reducer, Text(job.Workload)));
        Assert.True(await job.FailAsync(Ct));
        Assert.Equal(["H:2"], await conn.ExpectAsync(PacketType.WorkFail));
        await conn.ExpectAsync(PacketType.GrabJobAll);

        await conn.SendAsync(PacketType.JobAssignUniq, "H:3", "resize", "u-3", "uniq");
        job = await jobs.ReceiveAsync(WaitLimit, Ct);
        Assert.Equal(("H:3", "u-3", (string?)null), (job.Handle, job.UniqueId, job.Reducer));
        Assert.True(await job.FailWithExceptionAsync("bad input", Ct));
        Assert.Equal(["H:3", "bad input"], await conn.ExpectAsync(PacketType.WorkException));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_function_without_timeout_registers_with_CAN_DO_and_sends_no_client_id_by_default()
    {
        await using var server = new ScriptedJobServer();
        await using var worker = await StartWorkerAsync(Options(server), "plain", Echo);

        await AcceptRegisteredAsync(server, PacketType.CanDo, "plain");
    }

    [Fact(Timeout = 30_000)]
    public async Task No_grab_is_sent_while_the_block_is_full()
    {
        await using var server = new ScriptedJobServer();
        var gates = new ConcurrentDictionary<string, TaskCompletionSource>();
        TaskCompletionSource Gate(string handle) => gates.GetOrAdd(handle, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        await using var worker = await StartWorkerAsync(Options(server), "f", async (job, ct) =>
        {
            await Gate(job.Handle).Task.WaitAsync(ct);
            return Bytes("r" + job.Handle);
        }, GearmanFunctionOptions.Default with { BoundedCapacity = 2, MaxDegreeOfParallelism = 2 });

        var conn = await AcceptRegisteredAsync(server);
        await conn.SendAsync(PacketType.JobAssignUniq, "H:1", "f", string.Empty, "a");
        await conn.ExpectAsync(PacketType.GrabJobAll);
        await conn.SendAsync(PacketType.JobAssignUniq, "H:2", "f", string.Empty, "b");

        // Two jobs in flight: the worker's next packet is H:2's result, not a grab (packets leave in order).
        Gate("H:2").SetResult();
        Assert.Equal(["H:2", "rH:2"], await conn.ExpectAsync(PacketType.WorkComplete));
        await conn.ExpectAsync(PacketType.GrabJobAll);
        await conn.SendAsync(PacketType.JobAssignUniq, "H:3", "f", string.Empty, "c");
        Gate("H:1").SetResult();
        Assert.Equal(["H:1", "rH:1"], await conn.ExpectAsync(PacketType.WorkComplete));
        await conn.ExpectAsync(PacketType.GrabJobAll);
        await conn.SendAsync(PacketType.NoJob);
        await conn.ExpectAsync(PacketType.PreSleep);
        Gate("H:3").SetResult();
        Assert.Equal(["H:3", "rH:3"], await conn.ExpectAsync(PacketType.WorkComplete));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_worker_with_room_grabs_on_every_server()
    {
        await using var a = new ScriptedJobServer();
        await using var b = new ScriptedJobServer();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = await StartWorkerAsync(Options(a, b), "f", async (job, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            return job.Workload;
        }, GearmanFunctionOptions.Default with { BoundedCapacity = 2, MaxDegreeOfParallelism = 2 });

        var ca = await a.AcceptAsync();
        var cb = await b.AcceptAsync();
        await ca.ExpectAsync(PacketType.CanDo);
        await cb.ExpectAsync(PacketType.CanDo);
        await ca.ExpectAsync(PacketType.GrabJobAll);
        await cb.ExpectAsync(PacketType.GrabJobAll);

        await ca.SendAsync(PacketType.NoJob);
        await ca.ExpectAsync(PacketType.PreSleep);
        await cb.SendAsync(PacketType.JobAssignUniq, "B:1", "f", string.Empty, "from b");
        await cb.ExpectAsync(PacketType.GrabJobAll);
        await cb.SendAsync(PacketType.NoJob);
        await cb.ExpectAsync(PacketType.PreSleep);

        // Server A wakes the worker: it still has one free slot, so it grabs there.
        await ca.SendAsync(PacketType.Noop);
        await ca.ExpectAsync(PacketType.GrabJobAll);
        await ca.SendAsync(PacketType.JobAssignUniq, "A:1", "f", string.Empty, "from a");

        // Full now: B's wake-up waits for a free slot (exact back-pressure is the test above). Each result goes back to the server its job came from, and
        // the freed slots grab again (in either order with the results).
        await cb.SendAsync(PacketType.Noop);
        gate.SetResult();
        Assert.Equal(["GrabJobAll ", "WorkComplete A:1|from a"], await NextTwoAsync(ca));
        Assert.Equal(["GrabJobAll ", "WorkComplete B:1|from b"], await NextTwoAsync(cb));

        static async Task<string[]> NextTwoAsync(ScriptedConnection c)
            => [.. new[] { Describe(await c.ReadAsync()), Describe(await c.ReadAsync()) }.Order(StringComparer.Ordinal)];
    }

    [Fact(Timeout = 30_000)]
    public async Task A_lost_connection_fires_the_tokens_of_its_jobs_and_the_worker_reconnects_and_registers_again()
    {
        await using var server = new ScriptedJobServer();
        var cancelled = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = await StartWorkerAsync(Options(server) with { ClientId = "again" }, "f", async (job, ct) =>
        {
            if (Text(job.Workload) == "lost")
            {
                await using var _ = ct.Register(() => cancelled.TrySetResult(job.Handle));
                running.TrySetResult();
                await Task.Delay(Timeout.Infinite, ct);
            }

            return job.Workload;
        }, GearmanFunctionOptions.Default with { Timeout = TimeSpan.FromSeconds(30) });

        var first = await server.AcceptAsync();
        await first.ExpectAsync(PacketType.SetClientId);
        await first.ExpectAsync(PacketType.CanDoTimeout);
        await first.ExpectAsync(PacketType.GrabJobAll);
        await first.SendAsync(PacketType.JobAssignUniq, "H:1", "f", string.Empty, "lost");

        // Abort only once the job runs: a reset can discard an assignment the worker has not read yet.
        await running.Task.Within();
        first.Abort();

        Assert.Equal("H:1", await cancelled.Task.Within());
        var second = await server.AcceptAsync();
        Assert.Equal(["again"], await second.ExpectAsync(PacketType.SetClientId));
        Assert.Equal(["f", "30000"], await second.ExpectAsync(PacketType.CanDoTimeout));
        await second.ExpectAsync(PacketType.GrabJobAll);
        await second.SendAsync(PacketType.JobAssignUniq, "H:1", "f", string.Empty, "again");
        Assert.Equal(["H:1", "again"], await second.ExpectAsync(PacketType.WorkComplete));
    }

    [Fact(Timeout = 30_000)]
    public async Task The_job_token_fires_at_the_timeout_and_nothing_is_sent_for_the_job()
    {
        await using var server = new ScriptedJobServer();
        var time = new FakeTimeProvider();
        var job = new HeldJob();
        await using var worker = await StartWorkerAsync(Options(server) with { TimeProvider = time }, "f", job.RunAsync, GearmanFunctionOptions.Default with { Timeout = TimeSpan.FromSeconds(2) });

        var conn = await AcceptRegisteredAsync(server, PacketType.CanDoTimeout, "f", "2000");
        await job.AssignAsync(conn);

        time.Advance(TimeSpan.FromMilliseconds(1999));
        Assert.False(job.Cancelled.Task.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        await job.Cancelled.Task.Within();

        // The server has taken the job back: no result is sent for it, and the freed slot grabs again.
        await conn.ExpectAsync(PacketType.GrabJobAll);
    }

    [Fact(Timeout = 30_000)]
    public async Task Timeouts_under_a_second_are_registered_as_given_and_enforced_at_one_second_like_the_server()
    {
        await using var server = new ScriptedJobServer();
        var time = new FakeTimeProvider();
        var job = new HeldJob();
        await using var worker = await StartWorkerAsync(Options(server) with { TimeProvider = time }, "f", job.RunAsync, GearmanFunctionOptions.Default with { Timeout = TimeSpan.FromMilliseconds(200) });

        var conn = await AcceptRegisteredAsync(server, PacketType.CanDoTimeout, "f", "200");
        await job.AssignAsync(conn);
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(job.Cancelled.Task.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        await job.Cancelled.Task.Within();
    }

    [Fact(Timeout = 30_000)]
    public async Task Stopping_answers_an_outstanding_grab_runs_its_job_and_then_closes()
    {
        await using var server = new ScriptedJobServer();
        var worker = await StartWorkerAsync(Options(server), "f", Echo);

        var conn = await AcceptRegisteredAsync(server);

        var stop = worker.StopAsync(Ct).AsTask();
        await conn.SendAsync(PacketType.JobAssignUniq, "H:1", "f", string.Empty, "late but ours");
        Assert.Equal(["H:1", "late but ours"], await conn.ExpectAsync(PacketType.WorkComplete));
        Assert.True(await conn.WaitForCloseAsync());
        await stop.Within();
    }

    [Fact(Timeout = 30_000)]
    public async Task A_job_of_a_function_that_is_not_registered_is_failed()
    {
        await using var server = new ScriptedJobServer();
        await using var worker = await StartWorkerAsync(Options(server), "f", Echo);

        var conn = await AcceptRegisteredAsync(server);
        await conn.SendAsync(PacketType.JobAssignUniq, "H:9", "other", string.Empty, "x");
        Assert.Equal(["H:9"], await conn.ExpectAsync(PacketType.WorkFail));
        await conn.ExpectAsync(PacketType.GrabJobAll);
    }

    [Fact(Timeout = 30_000)]
    public async Task An_unreachable_server_is_retried_until_it_listens()
    {
        // Take a free port, then release it: nothing listens there until the scripted server starts.
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();

        await using var worker = await StartWorkerAsync(GearmanWorkerOptions.Default with
        {
            Servers = [$"127.0.0.1:{port}"],
            ReconnectDelay = TimeSpan.FromMilliseconds(20),
            MaxReconnectDelay = TimeSpan.FromMilliseconds(50),
            LoggerFactory = TestLogging.Factory,
        }, "f", Echo);

        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
        listener.Start();
        try
        {
            using var socket = await listener.AcceptSocketAsync(Ct).AsTask().Within();
            await using var conn = new ScriptedConnection(socket);
            await conn.ExpectAsync(PacketType.CanDo);
        }
        finally
        {
            listener.Stop();
        }
    }

    /// <summary>A job handler that signals when its job starts and when the job's token fires, and runs until then.</summary>
    private sealed class HeldJob
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async ValueTask<ReadOnlyMemory<byte>> RunAsync(GearmanJob job, CancellationToken ct)
        {
            ct.Register(() => Cancelled.TrySetResult());
            Started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return job.Workload;
        }

        /// <summary>Assigns the job <c>H:1</c> of <c>f</c> on <paramref name="conn"/> and waits until it runs.</summary>
        public async Task AssignAsync(ScriptedConnection conn)
        {
            await conn.SendAsync(PacketType.JobAssignUniq, "H:1", "f", string.Empty, "slow");
            await Started.Task.Within();
        }
    }
}
