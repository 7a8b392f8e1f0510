using System.Globalization;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Conformance;

/// <summary>Priorities, wake-up rotation and EPOCH jobs (protocol.md §2.5, §2.7, §2.12; §7 probes 16, 17, 21).</summary>
[Trait("Category", "Conformance")]
public sealed class SchedulingConformanceTests
{
    [Theory]
    [BothServers]
    public async Task Within_a_function_high_runs_before_normal_before_low_each_in_submit_order(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("prio");
        var c = await s.ConnectAsync();
        await c.SubmitAsync(PacketType.SubmitJobLowBg, fn, string.Empty, "L1");
        await c.SubmitAsync(PacketType.SubmitJobBg, fn, string.Empty, "N1");
        await c.SubmitAsync(PacketType.SubmitJobHigh, fn, string.Empty, "H1");
        await c.SubmitAsync(PacketType.SubmitJobLow, fn, string.Empty, "L2");
        await c.SubmitAsync(PacketType.SubmitJob, fn, string.Empty, "N2");
        await c.SubmitAsync(PacketType.SubmitJobHighBg, fn, string.Empty, "H2");
        await c.SubmitEpochAsync(fn, string.Empty, 0, "E");
        await c.SubmitReduceAsync(fn, string.Empty, "r", "R");
        var worker = await s.WorkerAsync(fn);
        Assert.Equal(["H1", "H2", "N1", "N2", "E", "R", "L1", "L2"], await GrabAllAsync(worker, 8));
        await worker.ExpectNoJobAsync();
    }

    [Theory]
    [BothServers]
    public async Task Priority_across_functions(ServerKind kind)
    {
        // §2.5, §7 probe 16: the worker registers p1 then p2. Known difference: ours follows HEAD (global priority,
        // round robin); 1.1.20 serves the first function with any job, at that function's highest priority.
        await using var s = await ConformanceSession.StartAsync(kind);
        string p1 = TestNames.Unique("p1");
        string p2 = TestNames.Unique("p2");
        var c = await s.ConnectAsync();
        foreach (var (fn, type, data) in new[]
        {
            (p1, PacketType.SubmitJobHighBg, "p1:H"), (p1, PacketType.SubmitJobHighBg, "p1:H"),
            (p1, PacketType.SubmitJobBg, "p1:N"), (p1, PacketType.SubmitJobBg, "p1:N"),
            (p1, PacketType.SubmitJobLowBg, "p1:L"), (p1, PacketType.SubmitJobLowBg, "p1:L"),
            (p2, PacketType.SubmitJobHighBg, "p2:H"), (p2, PacketType.SubmitJobLowBg, "p2:L"),
        })
        {
            await c.SubmitAsync(type, fn, string.Empty, data);
        }

        var worker = await s.WorkerAsync(p1, p2);
        string[] expected = s.IsGearmand
            ? ["p2:H", "p2:L", "p1:H", "p1:H", "p1:N", "p1:N", "p1:L", "p1:L"]
            : ["p2:H", "p1:H", "p1:H", "p1:N", "p1:N", "p2:L", "p1:L", "p1:L"];
        Assert.Equal(expected, await GrabAllAsync(worker, 8));
    }

    [Theory]
    [BothServers]
    public async Task Worker_wakeup_0_wakes_every_sleeping_worker(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("wall");
        var workers = new[] { await s.WorkerAsync(fn), await s.WorkerAsync(fn), await s.WorkerAsync(fn) };
        foreach (var w in workers) await w.SleepAsync();
        var c = await s.ConnectAsync();
        await c.SubmitBackgroundAsync(fn, string.Empty, "x");
        foreach (var w in workers) await w.ExpectNoopAsync();
        foreach (var w in workers) await w.SyncAsync();
    }

    [Theory]
    [BothServers]
    public async Task Worker_wakeup_1_sends_one_NOOP_per_job_rotating_through_the_workers(ServerKind kind)
    {
        // §2.7, §7 probe 21: with -w 1, jobs 0, 1, 2 wake w0, w1, w2, even when the woken worker sleeps again.
        await using var s = await ConformanceSession.StartAsync(kind, new ServerStartOptions { WorkerWakeup = 1 });
        string fn = TestNames.Unique("w1");
        var workers = new[] { await s.WorkerAsync(fn), await s.WorkerAsync(fn), await s.WorkerAsync(fn) };
        foreach (var w in workers) await w.SleepAsync();
        var c = await s.ConnectAsync();
        for (int job = 0; job < 4; job++)
        {
            string data = job.ToString(CultureInfo.InvariantCulture);
            string handle = await c.SubmitBackgroundAsync(fn, string.Empty, data);
            var woken = workers[job % 3];
            await woken.ExpectNoopAsync();
            foreach (var w in workers) await w.SyncAsync();
            await woken.GrabExpectAsync(handle, fn, data);
            await woken.ExpectNoJobAsync();
            await woken.SleepAsync();
        }
    }

    [Theory]
    [BothServers]
    public async Task Epoch_job_in_the_past_or_unparsable_runs_now(ServerKind kind)
    {
        // §1.3 (non-numeric EPOCH parses as 0), §2.12.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("now");
        var worker = await s.WorkerAsync(fn);
        await worker.SleepAsync();
        var c = await s.ConnectAsync();
        string h1 = await c.SubmitEpochAsync(fn, string.Empty, 0, "zero");
        await worker.ExpectNoopAsync();
        string h2 = await c.SubmitEpochAsync(fn, string.Empty, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 10, "past");
        await c.SendAsync(PacketType.SubmitJobEpoch, fn, string.Empty, "soon", "text");
        string h3 = await c.ExpectJobCreatedAsync();
        await worker.GrabExpectAsync(h1, fn, "zero");
        await worker.GrabExpectAsync(h2, fn, "past");
        await worker.GrabExpectAsync(h3, fn, "text");
    }

    [Theory]
    [BothServers]
    public async Task Epoch_job_in_the_future_runs_when_due(ServerKind kind)
    {
        // §2.7, §2.12, §7 probe 17. [1.1.20]: NOOP at submit, NO_JOB, and no NOOP when the job becomes due (no timer);
        // it runs on a later GRAB. Ours follows HEAD's timer, and (a known difference) sends no NOOP before the job is due.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("epoch");
        var worker = await s.WorkerAsync(fn);
        await worker.SleepAsync();
        var c = await s.ConnectAsync();
        long due = DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 2;
        string epochJob = await c.SubmitEpochAsync(fn, string.Empty, due, "later");
        if (s.IsGearmand) await worker.ExpectNoopAsync();
        await worker.SyncAsync();
        await worker.ExpectNoJobAsync();
        Assert.Equal($"{fn}\t1\t0\t1", await (await s.AdminAsync()).StatusOfAsync(fn));
        Assert.Equal([$"{fn}\t0\t1\t0\t1"], (await s.AdminListAsync("prioritystatus")).Where(l => l.StartsWith(fn + "\t", StringComparison.Ordinal)));

        // A background job queued behind it runs first.
        string behind = await c.SubmitBackgroundAsync(fn, string.Empty, "now");
        await worker.GrabExpectAsync(behind, fn, "now");
        await worker.ExpectNoJobAsync();
        await worker.SleepAsync();

        var dueAt = DateTimeOffset.FromUnixTimeSeconds(due);
        if (s.IsGearmand)
        {
            // Nothing wakes the worker when the job becomes due.
            await worker.ExpectNothingAsync(dueAt - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(500));
        }
        else
        {
            await worker.ExpectNoopAsync(TimeSpan.FromSeconds(10));
            Assert.True(DateTimeOffset.UtcNow >= dueAt, "woken before the job was due");
        }

        await worker.GrabExpectAsync(epochJob, fn, "later");
    }

    [Theory]
    [BothServers]
    public async Task Future_epoch_job_does_not_hide_low_jobs(ServerKind kind)
    {
        // §2.5 BUG [1.1.20]: a future EPOCH job at the head of NORMAL hides that function's LOW jobs; HEAD and ours run them.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("hide");
        var c = await s.ConnectAsync();
        await c.SubmitEpochAsync(fn, string.Empty, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 3600, "later");
        string low = await c.SubmitAsync(PacketType.SubmitJobLowBg, fn, string.Empty, "low");
        Assert.Equal([$"{fn}\t0\t1\t1\t0"], (await s.AdminListAsync("prioritystatus")).Where(l => l.StartsWith(fn + "\t", StringComparison.Ordinal)));
        var worker = await s.WorkerAsync(fn);
        if (s.IsGearmand) await worker.ExpectNoJobAsync();
        else await worker.GrabExpectAsync(low, fn, "low");
    }

    private static async Task<string[]> GrabAllAsync(RawGearmanConnection worker, int count)
    {
        var data = new string[count];
        for (int i = 0; i < count; i++)
        {
            var assign = await worker.GrabAsync();
            Assert.True(assign.Type == (uint)PacketType.JobAssign, $"grab {i}: {assign}");
            data[i] = assign.Strings()[2];
        }

        return data;
    }
}
