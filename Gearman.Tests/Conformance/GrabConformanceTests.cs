using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Conformance;

/// <summary>GRAB variants, PRE_SLEEP and NOOP (protocol.md §2.7, §2.8; §7 probes 8, 18, 24).</summary>
[Trait("Category", "Conformance")]
public sealed class GrabConformanceTests
{
    [Theory]
    [BothServers]
    public async Task Grab_variants_have_their_layouts(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("lay");
        var c = await s.ConnectAsync();
        string h1 = await c.SubmitBackgroundAsync(fn, "u1", "d\01");
        string h2 = await c.SubmitBackgroundAsync(fn, "u2", "d2");
        string h3 = await c.SubmitBackgroundAsync(fn, "u3", "d3");
        var worker = await s.WorkerAsync(fn);

        Assert.Equal($"JOB_ASSIGN {h1}\\0{fn}\\0d\\01", RawConnectionExtensions.Describe(await worker.GrabAsync(PacketType.GrabJob)));
        Assert.Equal($"JOB_ASSIGN_UNIQ {h2}\\0{fn}\\0u2\\0d2", RawConnectionExtensions.Describe(await worker.GrabAsync(PacketType.GrabJobUniq)));

        // GRAB_JOB_ALL without a reducer answers JOB_ASSIGN_UNIQ (§2.8).
        Assert.Equal($"JOB_ASSIGN_UNIQ {h3}\\0{fn}\\0u3\\0d3", RawConnectionExtensions.Describe(await worker.GrabAsync(PacketType.GrabJobAll)));
        await worker.ExpectNoJobAsync(PacketType.GrabJobAll);
        await worker.ExpectNoJobAsync(PacketType.GrabJobUniq);
    }

    [Theory]
    [BothServers]
    public async Task Reduce_jobs_carry_the_reducer_only_to_GRAB_JOB_ALL(ServerKind kind)
    {
        // §1.2 (4 fields before DATA), §2.8, §7 probe 18.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("mapf");
        var c = await s.ConnectAsync();
        string h1 = await c.SubmitReduceAsync(fn, "RU1", "redf", "payload words");
        string h2 = await c.SubmitReduceAsync(fn, "RU2", "redf", "p2", background: true);
        string h3 = await c.SubmitReduceAsync(fn, "RU3", "redf", "p3");
        var worker = await s.WorkerAsync(fn);
        Assert.Equal($"JOB_ASSIGN_ALL {h1}\\0{fn}\\0RU1\\0redf\\0payload words", RawConnectionExtensions.Describe(await worker.GrabAsync(PacketType.GrabJobAll)));
        Assert.Equal($"JOB_ASSIGN {h2}\\0{fn}\\0p2", RawConnectionExtensions.Describe(await worker.GrabAsync(PacketType.GrabJob)));
        Assert.Equal($"JOB_ASSIGN_UNIQ {h3}\\0{fn}\\0RU3\\0p3", RawConnectionExtensions.Describe(await worker.GrabAsync(PacketType.GrabJobUniq)));

        // A reduce job is NORMAL priority and completes like any other.
        await worker.SendAsync(PacketType.WorkComplete, h1, "agg");
        await c.ExpectAsync(PacketType.WorkComplete, $"{h1}\0agg");
    }

    [Theory]
    [BothServers]
    public async Task A_sleeping_worker_gets_one_NOOP_between_grabs(ServerKind kind)
    {
        // §2.7: sleeping and NOOP-sent are cleared only by a GRAB.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("noop");
        var worker = await s.WorkerAsync(fn);
        await worker.SleepAsync();
        var c = await s.ConnectAsync();
        string h1 = await c.SubmitBackgroundAsync(fn, string.Empty, "1");
        string h2 = await c.SubmitBackgroundAsync(fn, string.Empty, "2");
        await worker.ExpectNoopAsync();
        await worker.SyncAsync();

        // A second PRE_SLEEP while jobs are queued answers NOOP at once.
        await worker.SendAsync(PacketType.PreSleep);
        await worker.ExpectNoopAsync();

        await worker.GrabExpectAsync(h1, fn, "1");
        await worker.GrabExpectAsync(h2, fn, "2");
        await worker.ExpectNoJobAsync();
        await worker.SleepAsync();
        string h3 = await c.SubmitBackgroundAsync(fn, string.Empty, "3");
        await worker.ExpectNoopAsync();
        await worker.GrabExpectAsync(h3, fn, "3");
    }

    [Theory]
    [BothServers]
    public async Task PRE_SLEEP_with_a_job_pending_answers_NOOP_and_does_not_sleep(ServerKind kind)
    {
        // §2.7, §7 probe 24.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("pend");
        var c = await s.ConnectAsync();
        string h1 = await c.SubmitBackgroundAsync(fn, string.Empty, "1");
        var worker = await s.WorkerAsync(fn);
        await worker.SendAsync(PacketType.PreSleep);
        await worker.ExpectNoopAsync();
        await worker.SendAsync(PacketType.PreSleep);
        await worker.ExpectNoopAsync();

        // Not marked sleeping, so a new job sends no NOOP.
        await c.SubmitBackgroundAsync(fn, string.Empty, "2");
        await worker.SyncAsync();
        await worker.GrabExpectAsync(h1, fn, "1");
    }

    [Theory]
    [BothServers]
    public async Task NOOP_goes_only_to_sleeping_workers_of_the_function(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("only");
        var awake = await s.WorkerAsync(fn);
        var other = await s.WorkerAsync(TestNames.Unique("else"));
        await other.SleepAsync();
        var sleeping = await s.WorkerAsync(fn);
        await sleeping.SleepAsync();
        var unregistered = await s.ConnectAsync();
        await unregistered.SleepAsync();

        var c = await s.ConnectAsync();
        await c.SubmitBackgroundAsync(fn, string.Empty, "x");
        await sleeping.ExpectNoopAsync();
        await sleeping.SyncAsync();
        await awake.SyncAsync();
        await other.SyncAsync();
        await unregistered.SyncAsync();
    }

    [Theory]
    [BothServers]
    public async Task Registering_for_a_function_with_queued_jobs_sends_no_NOOP(ServerKind kind)
    {
        // §2.7: NOOPs are sent when a job is queued, not when a sleeping worker gains a registration.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("late");
        var c = await s.ConnectAsync();
        string handle = await c.SubmitBackgroundAsync(fn, string.Empty, "x");
        var worker = await s.ConnectAsync();
        await worker.SleepAsync();
        await worker.CanDoAsync(fn);
        await worker.GrabExpectAsync(handle, fn, "x");
    }

    [Theory]
    [BothServers]
    public async Task Worker_without_registrations_gets_NO_JOB(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        var c = await s.ConnectAsync();
        await c.SubmitBackgroundAsync(TestNames.Unique("none"), string.Empty, "x");
        await c.ExpectNoJobAsync();
        await c.ExpectNoJobAsync(PacketType.GrabJobAll);
    }

    [Theory]
    [BothServers]
    public async Task One_connection_can_be_client_and_worker(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("self");
        var c = await s.WorkerAsync(fn);
        string handle = await c.SubmitAsync(fn, string.Empty, "me");
        await c.GrabExpectAsync(handle, fn, "me");
        await c.SendAsync(PacketType.WorkComplete, handle, "done");
        await c.ExpectAsync(PacketType.WorkComplete, $"{handle}\0done");
    }
}
