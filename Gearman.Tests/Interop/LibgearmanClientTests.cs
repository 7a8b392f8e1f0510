using System.Globalization;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Interop;

/// <summary>
/// libgearman 1.1.20 clients (Programs/gm_client.c) against the server, with libgearman workers (Programs/gm_worker.c).
/// gm_client prints one line per event; see the program for the format.
/// </summary>
[Trait("Category", "Interop")]
public sealed class LibgearmanClientTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Client_do_returns_all_data_then_the_complete_payload(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("c_do");
        await using var worker = await Peers.StartCWorkerAsync(server, fn, "chatty");

        var output = await Peers.RunCClientAsync(server, "do", fn, "payload");

        // gearman_client_do concatenates every WORK_DATA and the WORK_COMPLETE payload; WARNING and STATUS are dropped (protocol.md §5.1).
        Assert.Equal(["result d1d2payload", "ret GEARMAN_SUCCESS"], output);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Run_tasks_sees_created_data_status_warning_complete_in_order(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("c_tasks");
        await using var worker = await Peers.StartCWorkerAsync(server, fn, "chatty");

        var output = await Peers.RunCClientAsync(server, "tasks", fn, "alpha", "beta");

        Assert.Equal("ret GEARMAN_SUCCESS", output[^1]);
        var handles = new List<string>();
        foreach (var (task, data) in new[] { ("1", "alpha"), ("2", "beta") })
        {
            // The tasks interleave, but each one's events arrive in the order the worker sent them (protocol.md §7 #1).
            var events = output.Where(l => l.StartsWith(task + " ", StringComparison.Ordinal)).Select(l => l[(task.Length + 1)..]).ToList();
            Assert.Equal(6, events.Count);
            Assert.StartsWith("created ", events[0], StringComparison.Ordinal);
            string handle = events[0]["created ".Length..];
            Assert.Equal(["data d1", "status 1/2", "warning w1", "data d2", $"complete {handle} {data}"], events[1..]);
            handles.Add(handle);
        }

        Assert.NotEqual(handles[0], handles[1]);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Background_job_status_is_known_then_running_with_progress_then_unknown(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("c_bg");

        var submitted = await Peers.RunCClientAsync(server, "bg", fn, "work");
        Assert.Equal("ret GEARMAN_SUCCESS", submitted[^1]);
        string handle = Assert.Single(submitted, l => l.StartsWith("handle ", StringComparison.Ordinal))["handle ".Length..];

        // Spec §2.10: queued → known, not running, 0/0.
        Assert.Equal(["known=1 running=0 numerator=0 denominator=0", "ret GEARMAN_SUCCESS"], await Peers.RunCClientAsync(server, "status", handle));

        await using var worker = await Peers.StartCWorkerAsync(server, fn, "hold", "--count", "1");
        await worker.WaitForLineAsync(l => l == "status sent");
        Assert.Equal(["known=1 running=1 numerator=1 denominator=2", "ret GEARMAN_SUCCESS"], await Peers.RunCClientAsync(server, "status", handle));

        await worker.WriteInputLineAsync("go");
        await worker.WaitForLineAsync(l => l == "completed");
        Assert.Equal(0, await worker.WaitForExitAsync(Peers.RunTimeout));

        // A finished job is unknown again.
        Assert.Equal(["known=0 running=0 numerator=0 denominator=0", "ret GEARMAN_SUCCESS"], await Peers.RunCClientAsync(server, "status", handle));
        Assert.StartsWith($"job {handle} ", Assert.Single(worker.OutputLines, l => l.StartsWith("job ", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Same_unique_coalesces_into_one_job_with_one_handle(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("c_uniq");
        string unique = TestNames.Unique("u");

        // Two clients (libgearman 1.1.20 hands a shared handle's result to only one task of a client; see gm_client.c).
        await using var first = await Peers.StartCClientAsync(server, "unique", fn, unique, "same data");
        string h1 = (await first.WaitForLineAsync(l => l.StartsWith("1 created ", StringComparison.Ordinal)))["1 created ".Length..];
        await using var second = await Peers.StartCClientAsync(server, "unique", fn, unique, "other data");
        string h2 = (await second.WaitForLineAsync(l => l.StartsWith("1 created ", StringComparison.Ordinal)))["1 created ".Length..];
        Assert.Equal(h1, h2); // protocol.md §2.3/§2.4: the joiner gets the existing handle

        await using var worker = await Peers.StartCWorkerAsync(server, fn, "echo");
        Assert.Equal(0, await first.WaitForExitAsync(Peers.RunTimeout));
        Assert.Equal(0, await second.WaitForExitAsync(Peers.RunTimeout));

        // The first submit's data wins; the joiner's data is discarded (protocol.md §2.3 step 3).
        string expected = $"1 complete {h1} same data";
        Assert.Equal([$"1 created {h1}", expected, "ret GEARMAN_SUCCESS"], first.OutputLines);
        Assert.Equal([$"1 created {h1}", expected, "ret GEARMAN_SUCCESS"], second.OutputLines);
        Assert.Equal($"job {h1} {unique} same data", await Peers.SoleJobLineAsync(worker, Ct));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Queued_priorities_drain_high_then_normal_then_low(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("c_prio");

        var submitted = await Peers.RunCClientAsync(server, "submit_bg", fn, "L:l1", "N:n1", "H:h1", "L:l2", "N:n2", "H:h2");
        Assert.Equal("ret GEARMAN_SUCCESS", submitted[^1]);
        Assert.Equal(6, submitted.Count(l => l.Contains(" created ", StringComparison.Ordinal)));

        await using var worker = await Peers.StartCWorkerAsync(server, fn, "echo", "--count", "6");
        Assert.Equal(0, await worker.WaitForExitAsync(Peers.RunTimeout));

        // One function: HIGH before NORMAL before LOW, FIFO within each (protocol.md §2.5; 1.1.20 and HEAD agree here).
        var order = worker.OutputLines.Where(l => l.StartsWith("job ", StringComparison.Ordinal)).Select(l => l.Split(' ')[3]);
        Assert.Equal(["h1", "h2", "n1", "n2", "l1", "l2"], order);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Epoch_job_runs_only_after_its_time(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("c_epoch");
        await using var worker = await Peers.StartCWorkerAsync(server, fn, "echo", "--stamp", "1");

        var submitted = await Peers.RunCClientAsync(server, "epoch", fn, "2", "later");
        Assert.Equal("ret GEARMAN_SUCCESS", submitted[^1]);
        long scheduled = long.Parse(Assert.Single(submitted, l => l.StartsWith("scheduled ", StringComparison.Ordinal))["scheduled ".Length..], CultureInfo.InvariantCulture);
        string handle = Assert.Single(submitted, l => l.StartsWith("handle ", StringComparison.Ordinal))["handle ".Length..];

        // A background job queued behind the future EPOCH job runs first (protocol.md §7 #17).
        var now = await Peers.RunCClientAsync(server, "bg", fn, "now");
        Assert.Equal("ret GEARMAN_SUCCESS", now[^1]);
        await worker.WaitForLineAsync(l => l.StartsWith("job ", StringComparison.Ordinal) && l.EndsWith(" now", StringComparison.Ordinal));
        Assert.DoesNotContain(worker.OutputLines, l => l.EndsWith(" later", StringComparison.Ordinal));

        if (kind == ServerKind.Gearmand)
        {
            // [1.1.20] has no timer that wakes sleeping workers when an EPOCH job falls due (protocol.md §2.7, appendix item 3):
            // once the time has passed, another submit's NOOP makes the worker grab again, and then the job is runnable.
            var due = DateTimeOffset.FromUnixTimeSeconds(scheduled + 1) - DateTimeOffset.UtcNow;
            if (due > TimeSpan.Zero) await Task.Delay(due, Ct); // waiting for wall-clock time itself, not for an event
            Assert.DoesNotContain(worker.OutputLines, l => l.EndsWith(" later", StringComparison.Ordinal));
            Assert.Equal("ret GEARMAN_SUCCESS", (await Peers.RunCClientAsync(server, "bg", fn, "nudge"))[^1]);
        }

        // HEAD (and ours): a timer NOOPs the sleeping worker when the job falls due.
        string line = await worker.WaitForLineAsync(l => l.StartsWith($"job {handle} ", StringComparison.Ordinal), TimeSpan.FromSeconds(15));
        Assert.EndsWith(" later", line, StringComparison.Ordinal);
        string at = await worker.WaitForLineAsync(l => l.StartsWith($"at {handle} ", StringComparison.Ordinal));
        long ranAt = long.Parse(at[$"at {handle} ".Length..], CultureInfo.InvariantCulture);
        Assert.True(ranAt >= scheduled, $"EPOCH job scheduled for {scheduled} reached the worker at {ranAt}");
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Exceptions_reach_a_client_that_asked_for_them(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("c_exc");
        await using var worker = await Peers.StartCWorkerAsync(server, fn, "exception");

        // GEARMAN_CLIENT_EXCEPTION sends OPTION_REQ exceptions; WORK_EXCEPTION is then forwarded (protocol.md §2.9).
        var tasks = await Peers.RunCClientAsync(server, "--exceptions", "tasks", fn, "x");
        Assert.Equal("1 exception boom:x", Assert.Single(tasks, l => !l.StartsWith("1 created ", StringComparison.Ordinal) && !l.StartsWith("ret ", StringComparison.Ordinal)));
        Assert.Equal("ret GEARMAN_SUCCESS", tasks[^1]);

        Assert.Equal(["ret GEARMAN_WORK_EXCEPTION"], await Peers.RunCClientAsync(server, "--exceptions", "do", fn, "y"));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Exception_reaches_a_plain_client_as_work_fail(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("c_excfail");
        await using var worker = await Peers.StartCWorkerAsync(server, fn, "exception");

        var output = await Peers.RunCClientAsync(server, "--timeout", "1500", "do", fn, "z");

        // Spec §2.9: a client without exceptions gets WORK_FAIL instead. gearmand sends "H\0" (trailing NUL), which the
        // 1.1.20 client fails to match and waits until its timeout (BUG); ours sends "H", which every client matches.
        string expected = kind == ServerKind.Gearmand ? "ret GEARMAN_TIMEOUT" : "ret GEARMAN_WORK_FAIL";
        Assert.Equal([expected], output);
        await worker.WaitForLineAsync(l => l.StartsWith("job ", StringComparison.Ordinal) && l.EndsWith(" z", StringComparison.Ordinal));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Server_exceptions_switch_enables_them_for_every_connection(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, new ServerStartOptions { Exceptions = true }, Ct);
        string fn = TestNames.Unique("c_srvexc");
        await using var worker = await Peers.StartCWorkerAsync(server, fn, "exception");

        // No OPTION_REQ from this client: --exceptions on the server is enough (protocol.md §2.9, §6.1).
        var tasks = await Peers.RunCClientAsync(server, "tasks", fn, "q");
        Assert.Contains("1 exception boom:q", tasks);
    }
}
