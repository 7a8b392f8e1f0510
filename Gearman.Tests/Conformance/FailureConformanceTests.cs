using System.Diagnostics;
using Gearman.Reactive.Protocol;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Conformance;

/// <summary>Disconnects, requeues, retry limits and CAN_DO_TIMEOUT (protocol.md §2.4 abandonment, §2.6, §2.11; §7 probes 9–12, 23).</summary>
[Trait("Category", "Conformance")]
public sealed class FailureConformanceTests
{
    [Theory]
    [BothServers]
    public async Task A_queued_foreground_job_is_dropped_when_its_client_leaves(ServerKind kind)
    {
        // §2.4 abandonment, §7 probe 9. Known difference: gearmand only marks the job ignored and frees it when a
        // worker's PRE_SLEEP or GRAB reaches it, so `status` still counts it until then; ours removes it at once.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("gone");
        var client = await s.ConnectAsync();
        string handle = await client.SubmitAsync(fn, TestNames.Unique("u"), "x");
        await s.CloseAsync(client);

        Assert.Equal(s.IsGearmand ? $"{fn}\t1\t0\t0" : $"{fn}\t0\t0\t0", await (await s.AdminAsync()).StatusOfAsync(fn));
        var asker = await s.ConnectAsync();
        await asker.AssertStatusAsync(handle, s.IsGearmand ? $"{handle}\01\00\00\00" : $"{handle}\00\00\00\00");

        // No NOOP (PRE_SLEEP sleeps), no job.
        var worker = await s.WorkerAsync(fn);
        await worker.SleepAsync();
        await worker.ExpectNoJobAsync();
        Assert.Equal($"{fn}\t0\t0\t1", await (await s.AdminAsync()).StatusOfAsync(fn));
    }

    [Theory]
    [BothServers]
    public async Task A_running_job_whose_client_left_finishes_unheard(ServerKind kind)
    {
        // §2.4: an ignored running job continues and its WORK_COMPLETE is accepted and discarded.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("unheard");
        var client = await s.ConnectAsync();
        string handle = await client.SubmitAsync(fn, string.Empty, "x");
        var worker = await s.WorkerAsync(fn);
        await worker.GrabExpectAsync(handle, fn, "x");
        await s.CloseAsync(client);

        Assert.Equal([$"{handle}\t0\t1\t0"], await s.AdminListAsync("show jobs"));
        await worker.SendAsync(PacketType.WorkData, handle, "d");
        await worker.SendAsync(PacketType.WorkComplete, handle, "r");
        await worker.SyncAsync();
        Assert.Empty(await s.AdminListAsync("show jobs"));
    }

    [Theory]
    [BothServers]
    public async Task A_dead_workers_job_is_requeued_at_the_tail_with_status_reset(ServerKind kind)
    {
        // §2.5 (tail, 0/0), §2.11, §7 probe 10.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("dies");
        var client = await s.ConnectAsync();
        string h1 = await client.SubmitAsync(fn, string.Empty, "a");
        string h2 = await client.SubmitAsync(fn, string.Empty, "b");
        var doomed = await s.WorkerAsync(fn);
        await doomed.GrabExpectAsync(h1, fn, "a");
        await doomed.SendAsync(PacketType.WorkStatus, h1, "1", "2");
        await client.ExpectAsync(PacketType.WorkStatus, $"{h1}\01\02");

        var peer = await s.WorkerAsync(fn);
        await peer.GrabExpectAsync(h2, fn, "b");
        await peer.ExpectNoJobAsync();
        await peer.SleepAsync();
        await doomed.DisposeAsync();
        await peer.ExpectNoopAsync();

        Assert.Equal([$"{h1}\t1\t0\t0", $"{h2}\t0\t0\t0"], (await s.AdminListAsync("show jobs")).Order(StringComparer.Ordinal));
        await client.AssertStatusAsync(h1, $"{h1}\01\00\00\00");
        await peer.GrabExpectAsync(h1, fn, "a");
        await client.AssertStatusAsync(h1, $"{h1}\01\01\00\00");

        // The client is still attached.
        await peer.SendAsync(PacketType.WorkComplete, h1, "ok");
        await client.ExpectAsync(PacketType.WorkComplete, $"{h1}\0ok");
    }

    [Theory]
    [BothServers]
    public async Task Requeued_jobs_go_to_the_tail_of_their_queue(ServerKind kind)
    {
        // §2.5: after a worker died holding A, the order is B, A.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("tail");
        var client = await s.ConnectAsync();
        string a = await client.SubmitBackgroundAsync(fn, string.Empty, "a");
        string b = await client.SubmitBackgroundAsync(fn, string.Empty, "b");
        var doomed = await s.WorkerAsync(fn);
        await doomed.GrabExpectAsync(a, fn, "a");
        await s.CloseAsync(doomed);
        var peer = await s.WorkerAsync(fn);
        await peer.GrabExpectAsync(b, fn, "b");
        await peer.GrabExpectAsync(a, fn, "a");
    }

    [Theory]
    [InlineData(ServerKind.Gearmand, false)]
    [InlineData(ServerKind.Ours, false)]
    [InlineData(ServerKind.Gearmand, true)]
    [InlineData(ServerKind.Ours, true)]
    public async Task A_workers_jobs_are_requeued_newest_assignment_first(ServerKind kind, bool cantDo)
    {
        // gearmand's per-worker job list is LIFO: after the worker that took A then B goes, the queue is C, B, A.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("lifo");
        var client = await s.ConnectAsync();
        string a = await client.SubmitBackgroundAsync(fn, string.Empty, "a");
        string b = await client.SubmitBackgroundAsync(fn, string.Empty, "b");
        string c = await client.SubmitBackgroundAsync(fn, string.Empty, "c");
        var doomed = await s.WorkerAsync(fn);
        await doomed.GrabExpectAsync(a, fn, "a");
        await doomed.GrabExpectAsync(b, fn, "b");
        if (cantDo)
        {
            await doomed.SendAsync(PacketType.CantDo, fn);
            await doomed.SyncAsync();
        }
        else
        {
            await s.CloseAsync(doomed);
        }

        var peer = await s.WorkerAsync(fn);
        await peer.GrabExpectAsync(c, fn, "c");
        await peer.GrabExpectAsync(b, fn, "b");
        await peer.GrabExpectAsync(a, fn, "a");
    }

    [Theory]
    [BothServers]
    public async Task Job_retries_2_fails_the_job_after_two_worker_deaths(ServerKind kind)
    {
        // §2.11, §7 probe 11: the client gets WORK_FAIL with the bare handle.
        await using var s = await ConformanceSession.StartAsync(kind, new ServerStartOptions { JobRetries = 2 });
        string fn = TestNames.Unique("retry");
        var client = await s.ConnectAsync();
        string handle = await client.SubmitAsync(fn, string.Empty, "x");

        var first = await s.WorkerAsync(fn);
        await first.GrabExpectAsync(handle, fn, "x");
        await s.CloseAsync(first);
        Assert.Equal([$"{handle}\t1\t0\t0"], await s.AdminListAsync("show jobs"));

        var second = await s.WorkerAsync(fn);
        await second.GrabExpectAsync(handle, fn, "x");
        await second.DisposeAsync();
        await client.ExpectAsync(PacketType.WorkFail, handle);
        Assert.Empty(await s.AdminListAsync("show jobs"));
        if (s.IsGearmand) Assert.Contains("Dropped job due to max retry count", s.Server.Log, StringComparison.Ordinal);
    }

    [Theory]
    [BothServers]
    public async Task Job_retries_0_means_unlimited_in_1_1_20_and_no_retries_in_HEAD(ServerKind kind)
    {
        // §2.11 and Appendix item 2: ours follows HEAD.
        await using var s = await ConformanceSession.StartAsync(kind, new ServerStartOptions { JobRetries = 0 });
        string fn = TestNames.Unique("retry0");
        var client = await s.ConnectAsync();
        string handle = await client.SubmitAsync(fn, string.Empty, "x");
        var doomed = await s.WorkerAsync(fn);
        await doomed.GrabExpectAsync(handle, fn, "x");
        await s.CloseAsync(doomed);
        if (s.IsGearmand)
        {
            var peer = await s.WorkerAsync(fn);
            await peer.GrabExpectAsync(handle, fn, "x");
            await client.SyncAsync();
        }
        else
        {
            await client.ExpectAsync(PacketType.WorkFail, handle);
        }
    }

    [Theory]
    [BothServers]
    public async Task CANT_DO_and_RESET_ABILITIES_requeue_and_count_retries(ServerKind kind)
    {
        // §2.6, §7 probe 23 (-j 2): CANT_DO requeues (retry 1), RESET_ABILITIES drops with WORK_FAIL.
        await using var s = await ConformanceSession.StartAsync(kind, new ServerStartOptions { JobRetries = 2 });
        string fn = TestNames.Unique("cant");
        var client = await s.ConnectAsync();
        string handle = await client.SubmitAsync(fn, string.Empty, "x");
        var first = await s.WorkerAsync(fn);
        await first.GrabExpectAsync(handle, fn, "x");
        var sleeper = await s.WorkerAsync(fn);
        await sleeper.SleepAsync();

        await first.SendAsync(PacketType.CantDo, fn);
        await sleeper.ExpectNoopAsync();
        Assert.Equal([$"{handle}\t1\t0\t0"], await s.AdminListAsync("show jobs"));
        await first.SendAsync(PacketType.WorkComplete, handle, "late");
        await first.ExpectErrorAsync("JOB_NOT_FOUND", "Job given in work result not found");
        Assert.Equal($"{fn}\t1\t0\t1", await (await s.AdminAsync()).StatusOfAsync(fn));

        await sleeper.GrabExpectAsync(handle, fn, "x");
        await sleeper.SendAsync(PacketType.ResetAbilities);
        await client.ExpectAsync(PacketType.WorkFail, handle);
        await sleeper.SendAsync(PacketType.WorkComplete, handle, "late");
        await sleeper.ExpectErrorAsync("JOB_NOT_FOUND", "Job given in work result not found");
        Assert.Equal($"{fn}\t0\t0\t0", await (await s.AdminAsync()).StatusOfAsync(fn));
    }

    [Theory]
    [BothServers]
    public async Task CANT_DO_requeues_only_jobs_of_that_function(ServerKind kind)
    {
        await using var s = await ConformanceSession.StartAsync(kind);
        string f1 = TestNames.Unique("keep");
        string f2 = TestNames.Unique("drop");
        var client = await s.ConnectAsync();
        string h1 = await client.SubmitAsync(f1, string.Empty, "1");
        string h2 = await client.SubmitAsync(f2, string.Empty, "2");
        var worker = await s.WorkerAsync(f1, f2);
        await worker.GrabAsync();
        await worker.GrabAsync();
        await worker.SendAsync(PacketType.CantDo, f2);
        await worker.SyncAsync();
        Assert.Equal([$"{h1}\t0\t0\t0", $"{h2}\t1\t0\t0"], (await s.AdminListAsync("show jobs")).Order(StringComparer.Ordinal));
        await worker.SendAsync(PacketType.WorkComplete, h1, "ok");
        await client.ExpectAsync(PacketType.WorkComplete, $"{h1}\0ok");
        Assert.Equal($"{f2}\t1\t0\t0", await (await s.AdminAsync()).StatusOfAsync(f2));
    }

    [Theory]
    [BothServers]
    public async Task CAN_DO_TIMEOUT_below_one_second_is_raised_to_one_second_and_requeues(ServerKind kind)
    {
        // §2.11, §7 probe 12: 200 ms becomes 1000 ms; the sleeping peer gets a NOOP; the late result gets JOB_NOT_FOUND.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("tmo");
        var client = await s.ConnectAsync();
        string handle = await client.SubmitAsync(fn, string.Empty, "x");
        var slow = await s.ConnectAsync();
        await slow.SendAsync(PacketType.CanDoTimeout, fn, "200");
        await slow.SyncAsync();
        var clock = Stopwatch.StartNew();
        await slow.GrabExpectAsync(handle, fn, "x");
        var peer = await s.WorkerAsync(fn);
        await peer.SleepAsync();
        await peer.ExpectNoopAsync(TimeSpan.FromSeconds(10));
        var elapsed = clock.Elapsed;
        Assert.True(elapsed >= TimeSpan.FromMilliseconds(900), $"timed out after {elapsed.TotalMilliseconds} ms; 200 ms must be raised to 1000 ms");

        await slow.SendAsync(PacketType.WorkComplete, handle, "late");
        await slow.ExpectErrorAsync("JOB_NOT_FOUND", "Job given in work result not found");
        await peer.GrabExpectAsync(handle, fn, "x");
        Assert.Equal([$"{handle}\t1\t0\t0"], await s.AdminListAsync("show jobs"));
        await peer.SendAsync(PacketType.WorkComplete, handle, "ok");
        await client.ExpectAsync(PacketType.WorkComplete, $"{handle}\0ok");
    }

    [Theory]
    [BothServers]
    public async Task PRE_SLEEP_while_running_a_timed_job(ServerKind kind)
    {
        // §2.7/§2.11: gearmand cancels the connection's job timer on PRE_SLEEP, so the job never times out. Known
        // difference: ours ties the timer to the assignment (the spec's C# rule), so it fires and wakes both sleepers.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("tsleep");
        var client = await s.ConnectAsync();
        string handle = await client.SubmitAsync(fn, string.Empty, "x");
        var slow = await s.ConnectAsync();
        await slow.SendAsync(PacketType.CanDoTimeout, fn, "1000");
        await slow.GrabExpectAsync(handle, fn, "x");
        await slow.SleepAsync();
        var peer = await s.WorkerAsync(fn);
        await peer.SleepAsync();
        if (s.IsGearmand)
        {
            await peer.ExpectNothingAsync(TimeSpan.FromMilliseconds(1500));
            await slow.SendAsync(PacketType.WorkComplete, handle, "r");
            await client.ExpectAsync(PacketType.WorkComplete, $"{handle}\0r");
        }
        else
        {
            await peer.ExpectNoopAsync(TimeSpan.FromSeconds(10));
            await slow.ExpectNoopAsync();
            await peer.GrabExpectAsync(handle, fn, "x");
        }
    }

    [Theory]
    [BothServers]
    public async Task CAN_DO_TIMEOUT_registers_like_CAN_DO(ServerKind kind)
    {
        // §2.6: shows in workers and counts as a worker; 0 and negative values mean no timeout.
        await using var s = await ConformanceSession.StartAsync(kind);
        string fn = TestNames.Unique("cdt");
        var w = await s.ConnectAsync();
        await w.SendAsync(PacketType.CanDoTimeout, fn, "0");
        await w.SendAsync(PacketType.CanDoTimeout, fn, "-5");
        await w.SendAsync(PacketType.CanDoTimeout, fn, "abc");
        await w.SyncAsync();
        Assert.Equal($"{fn}\t0\t0\t3", await (await s.AdminAsync()).StatusOfAsync(fn));
        Assert.Contains(await s.AdminListAsync("workers"), l => l.EndsWith($" : {fn} {fn} {fn}", StringComparison.Ordinal));
    }
}
