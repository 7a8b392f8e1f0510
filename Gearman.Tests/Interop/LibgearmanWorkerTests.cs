using System.Text.RegularExpressions;
using Gearman.Tests.Infrastructure;
using Xunit;

namespace Gearman.Tests.Interop;

/// <summary>libgearman 1.1.20 workers (Programs/gm_worker.c) against the server, driven by gm_client.</summary>
[Trait("Category", "Interop")]
public sealed class LibgearmanWorkerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Echo_worker_receives_the_job_and_completes_it(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_echo");
        await using var worker = await Peers.StartCWorkerAsync(server, fn, "echo", "--id", "echo-worker");

        Assert.Equal(["result hello world", "ret GEARMAN_SUCCESS"], await Peers.RunCClientAsync(server, "do", fn, "hello world"));

        // libgearman sends GRAB_JOB_ALL; a job without a reducer comes back as JOB_ASSIGN_UNIQ, so the worker sees the
        // client's generated UUID unique (protocol.md §2.8, §5.1).
        string job = await Peers.SoleJobLineAsync(worker, Ct);
        Assert.Matches(@"^job \S+ [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} hello world$", job);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Failing_worker_fails_the_client(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_fail");
        await using var worker = await Peers.StartCWorkerAsync(server, fn, "fail");

        Assert.Equal(["ret GEARMAN_WORK_FAIL"], await Peers.RunCClientAsync(server, "do", fn, "x"));
        var tasks = await Peers.RunCClientAsync(server, "tasks", fn, "y");
        string handle = Assert.Single(tasks, l => l.StartsWith("1 created ", StringComparison.Ordinal))["1 created ".Length..];
        Assert.Equal([$"1 created {handle}", $"1 fail {handle}", "ret GEARMAN_SUCCESS"], tasks);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Job_of_a_crashed_worker_is_requeued_to_another_worker(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_crash");
        await using var crasher = await Peers.StartCWorkerAsync(server, fn, "crash");
        await using var client = await Peers.StartCClientAsync(server, "do", fn, "survivor");

        string first = await crasher.WaitForLineAsync(l => l.StartsWith("job ", StringComparison.Ordinal));
        string handle = first.Split(' ')[1];
        Assert.Equal(3, await crasher.WaitForExitAsync(Peers.RunTimeout));

        // Spec §2.11 and §7 #10: the disconnect requeues the job with retries=1, not running.
        await AdminProbe.WaitForStatusAsync(server, fn, s => s.Workers == 0 && s.Running == 0 && s.Total == 1, "the job requeued");
        await using (var admin = await RawGearmanConnection.ConnectAsync(server))
        {
            Assert.Contains($"{handle}\t1\t0\t0", await admin.AdminListAsync("show jobs"));
        }

        await using var rescuer = await Peers.StartCWorkerAsync(server, fn, "echo");
        Assert.Equal(0, await client.WaitForExitAsync(Peers.RunTimeout));
        Assert.Equal(["result survivor", "ret GEARMAN_SUCCESS"], client.OutputLines);
        string second = await Peers.SoleJobLineAsync(rescuer, Ct);
        Assert.Equal(handle, second.Split(' ')[1]); // the same job, same handle
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Job_retries_limit_fails_the_job_after_the_last_crash(ServerKind kind)
    {
        // -j 2: the job runs at most twice; the second failure drops it and the client gets WORK_FAIL H (protocol.md §2.11;
        // 1.1.20 and HEAD agree for N > 0).
        await using var server = await TestServers.StartAsync(kind, new ServerStartOptions { JobRetries = 2 }, Ct);
        string fn = TestNames.Unique("w_retries");
        await using var client = await Peers.StartCClientAsync(server, "do", fn, "doomed");
        for (int attempt = 1; attempt <= 2; attempt++)
        {
            await using var crasher = await Peers.StartCWorkerAsync(server, fn, "crash");
            Assert.Equal(3, await crasher.WaitForExitAsync(Peers.RunTimeout));
        }

        Assert.Equal(0, await client.WaitForExitAsync(Peers.RunTimeout));
        Assert.Equal(["ret GEARMAN_WORK_FAIL"], client.OutputLines);
        await AdminProbe.WaitForStatusAsync(server, fn, s => s.Total == 0, "the job dropped");
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Can_do_timeout_moves_a_hung_job_to_another_worker(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_timeout");
        // define_function with a timeout registers with CAN_DO_TIMEOUT fn\01000 (ms; protocol.md §2.11, §5.2).
        await using var hung = await Peers.StartCWorkerAsync(server, fn, "hang", "--timeout", "1000");
        await using var client = await Peers.StartCClientAsync(server, "do", fn, "patience");
        string first = await hung.WaitForLineAsync(l => l.StartsWith("job ", StringComparison.Ordinal));
        await hung.WaitForLineAsync(l => l == "hanging");
        var started = DateTime.UtcNow;

        await using var rescuer = await Peers.StartCWorkerAsync(server, fn, "echo", [], expectedWorkers: 2);

        // When the timer fires the job is requeued (the hung worker is not told) and the sleeping peer gets it.
        Assert.Equal(0, await client.WaitForExitAsync(Peers.RunTimeout));
        Assert.Equal(["result patience", "ret GEARMAN_SUCCESS"], client.OutputLines);
        string rescued = await Peers.SoleJobLineAsync(rescuer, Ct);
        Assert.Equal(first.Split(' ')[1], rescued.Split(' ')[1]);
        Assert.False(hung.HasExited);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(15));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Worker_identifier_shows_in_admin_workers(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_id");
        string id = TestNames.Unique("ident");
        await using var worker = await Peers.StartCWorkerAsync(server, fn, "echo", "--id", id);

        await using var admin = await RawGearmanConnection.ConnectAsync(server);
        var lines = await admin.AdminListAsync("workers");

        // SET_CLIENT_ID is stored verbatim and listed with the registrations (protocol.md §2.14, §3).
        Assert.Contains(lines, l => Regex.IsMatch(l, $@"^\d+ 127\.0\.0\.1 {Regex.Escape(id)} : {Regex.Escape(fn)}$"));
    }
}
