using System.Collections.Concurrent;
using System.Globalization;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Gearman.Tests.Integration.Worker;
using Xunit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Interop.Worker;

/// <summary>
/// The real <c>gearman</c> CLI and libgearman C clients (Programs/worker_client.c) submitting to a Gearman.Reactive
/// worker, through gearmand and through our server.
/// </summary>
[Trait("Category", "Interop")]
public sealed class WorkerInteropTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(30);

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task The_gearman_cli_gets_the_result_of_our_worker(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("wi_cli");
        await using var worker = await StartWorkerAsync(Options(server), fn, Replying(job => "<" + Text(job.Workload) + ">"));

        await using var one = await GearmanTools.RunGearmanAsync(server, "-f", fn, "hello");
        Assert.Equal(0, await one.WaitForExitAsync());
        Assert.Equal(["<hello>"], one.OutputLines);

        // -n: one job per input line.
        await using var lines = await ExternalProgram.RunAsync(GearmanTools.Gearman, ["-h", server.Host, "-p", Port(server), "-f", fn, "-n"], RunTimeout, standardInput: "a\nb\n");
        Assert.Equal(0, await lines.WaitForExitAsync());
        Assert.Equal(["<a", "><b", ">"], lines.OutputLines);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Data_status_and_warning_reach_a_libgearman_client_in_order(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("wi_events");
        await using var worker = await StartWorkerAsync(Options(server), fn, SendingEvents(job => "done " + Text(job.Workload)));

        var output = await RunClientAsync(server, "events", fn, "payload");
        Assert.StartsWith("created ", output[0], StringComparison.Ordinal);
        Assert.Equal(["data d1", "status 1/3", "warning careful", "status 2/3", "data d2", "complete done payload", "ret GEARMAN_SUCCESS"], output.Skip(1));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_throwing_handler_is_an_exception_for_libgearman_clients_that_ask_and_a_failure_without_exceptions(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("wi_exc");
        string quiet = TestNames.Unique("wi_fail");
        await using var worker = await StartWorkerAsync(Options(server), fn, (_, _) => throw new InvalidOperationException("it broke"));

        var output = await RunClientAsync(server, "--exceptions", "events", fn, "x");
        // run_tasks itself succeeds; the task ended with the exception.
        Assert.Equal(["exception it broke", "ret GEARMAN_SUCCESS"], output.Skip(1));

        // For clients without exceptions, SendExceptions = false sends a plain WORK_FAIL that libgearman 1.1.20 recognises.
        await using var failing = await StartWorkerAsync(Options(server) with { SendExceptions = false }, quiet, (_, _) => throw new InvalidOperationException("hidden"));
        output = await RunClientAsync(server, "events", quiet, "x");
        Assert.Equal(["fail", "ret GEARMAN_SUCCESS"], output.Skip(1));
    }

    [Theory(Timeout = 90_000)]
    [BothServers]
    public async Task Jobs_from_a_libgearman_client_run_with_the_configured_parallelism_and_back_pressure(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("wi_par");
        const int jobs = 9;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var threeRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int running = 0, maxRunning = 0;
        await using var worker = await StartWorkerAsync(Options(server), fn, async (job, ct) =>
        {
            int now = Interlocked.Increment(ref running);
            if (now > Volatile.Read(ref maxRunning)) Interlocked.Exchange(ref maxRunning, now);
            if (now == 3) threeRunning.TrySetResult();
            await gate.Task.WaitAsync(ct);
            Interlocked.Decrement(ref running);
            return Bytes("ok " + Text(job.Workload));
        }, GearmanFunctionOptions.Default with { BoundedCapacity = 3, MaxDegreeOfParallelism = 3 });

        // Nine foreground tasks submitted together by one libgearman client.
        await using var client = await StartClientAsync(server, "many", fn, jobs.ToString(CultureInfo.InvariantCulture), "p");
        await threeRunning.Task.Within();
        var status = await WaitForStatusAsync(server, fn, s => s.Total == jobs && s.Running == 3, "9 queued, 3 running");
        Assert.Equal(3, status.Running);

        gate.SetResult();
        Assert.Equal(0, await client.WaitForExitAsync(RunTimeout));
        Assert.Equal("ret GEARMAN_SUCCESS", client.OutputLines[^1]);
        Assert.Equal(Enumerable.Range(1, jobs).Select(i => $"complete ok p-{i}").Order(), client.OutputLines.SkipLast(1).Order());
        Assert.Equal(3, maxRunning);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_killed_gearman_cli_worker_leaves_its_job_to_our_worker(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("wi_killed");

        // The CLI worker runs `sleep 60` for the job: it holds the job until it is killed.
        await using var cliWorker = GearmanTools.StartGearman(server, "-w", "-f", fn, "--", "sleep", "60");
        await WaitForStatusAsync(server, fn, s => s.Workers == 1, "the CLI worker registered");
        await using var client = await StartClientAsync(server, "events", fn, "orphan");
        await WaitForStatusAsync(server, fn, s => s.Running == 1, "the CLI worker running the job");

        await using var worker = await StartWorkerAsync(Options(server), fn, Replying(job => "rescued " + Text(job.Workload)));
        await WaitForStatusAsync(server, fn, s => s.Workers == 2, "our worker registered");

        cliWorker.Kill();
        Assert.Equal(0, await client.WaitForExitAsync(RunTimeout));
        Assert.Equal(["complete rescued orphan", "ret GEARMAN_SUCCESS"], client.OutputLines.Skip(1));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task When_our_worker_dies_mid_job_a_gearman_cli_worker_finishes_it(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("wi_dies");
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ours = await StartWorkerAsync(Options(server) with { ShutdownTimeout = TimeSpan.Zero }, fn, async (job, ct) =>
        {
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ct);
            return job.Workload;
        });

        await using var client = await StartClientAsync(server, "events", fn, "handed over");
        await started.Task.Within();
        await using var cliWorker = GearmanTools.StartGearman(server, "-w", "-c", "1", "-f", fn, "--", "cat");
        await WaitForStatusAsync(server, fn, s => s.Workers == 2, "the CLI worker registered");

        await ours.DisposeAsync();
        Assert.Equal(0, await client.WaitForExitAsync(RunTimeout));
        Assert.Equal(["complete handed over", "ret GEARMAN_SUCCESS"], client.OutputLines.Skip(1));
        Assert.Equal(0, await cliWorker.WaitForExitAsync(RunTimeout));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_job_over_its_timeout_is_cancelled_and_the_libgearman_client_gets_the_retry_result(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("wi_timeout");
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int runs = 0;
        await using var worker = await StartWorkerAsync(Options(server), fn, async (job, ct) =>
        {
            if (Interlocked.Increment(ref runs) == 1)
            {
                await job.SendDataAsync(Bytes("first try"), ct);
                await using var _ = ct.Register(() => cancelled.TrySetResult());
                await Task.Delay(Timeout.Infinite, ct);
            }

            return Bytes("second try");
        }, GearmanFunctionOptions.Default with { Timeout = TimeSpan.FromSeconds(1) });

        await using var client = await StartClientAsync(server, "events", fn, "x");
        await cancelled.Task.Within();
        Assert.Equal(0, await client.WaitForExitAsync(RunTimeout));
        Assert.Equal(["data first try", "complete second try", "ret GEARMAN_SUCCESS"], client.OutputLines.Skip(1));
        Assert.Equal(2, runs);
    }

    [Theory(Timeout = 90_000)]
    [BothServers]
    public async Task Graceful_shutdown_loses_no_job_of_a_libgearman_client(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("wi_graceful");
        const int jobs = 6;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var twoStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var byFirst = new ConcurrentBag<string>();
        var first = await StartWorkerAsync(Options(server), fn, async (job, ct) =>
        {
            byFirst.Add(Text(job.Workload));
            if (byFirst.Count == 2) twoStarted.TrySetResult();
            await gate.Task.WaitAsync(ct);
            return Bytes("first " + Text(job.Workload));
        }, GearmanFunctionOptions.Default with { BoundedCapacity = 2, MaxDegreeOfParallelism = 2 });

        await using var client = await StartClientAsync(server, "many", fn, jobs.ToString(CultureInfo.InvariantCulture), "g");
        await twoStarted.Task.Within();
        var stop = first.StopAsync(Ct).AsTask();
        gate.SetResult();
        await stop.Within();
        Assert.Equal(2, byFirst.Count);

        await using var second = await StartWorkerAsync(Options(server), fn, Replying(job => "second " + Text(job.Workload)));

        Assert.Equal(0, await client.WaitForExitAsync(RunTimeout));
        Assert.Equal("ret GEARMAN_SUCCESS", client.OutputLines[^1]);
        var expected = Enumerable.Range(1, jobs).Select(i => $"g-{i}").Select(w => byFirst.Contains(w) ? $"complete first {w}" : $"complete second {w}");
        Assert.Equal(expected.Order(), client.OutputLines.SkipLast(1).Order());
    }

    private static string Port(IServerUnderTest server) => server.Port.ToString(CultureInfo.InvariantCulture);

    private static async Task<ExternalProgram> StartClientAsync(IServerUnderTest server, params string[] args)
        => ExternalProgram.Start(await CPrograms.GetAsync("worker_client"), [server.Host, Port(server), .. args]);

    private static async Task<IReadOnlyList<string>> RunClientAsync(IServerUnderTest server, params string[] args)
    {
        await using var client = await StartClientAsync(server, args);
        int exit = await client.WaitForExitAsync(RunTimeout);
        Assert.True(exit == 0, client.Transcript());
        return client.OutputLines;
    }
}
