using System.Threading.Tasks.Dataflow;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;
using Xunit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.Worker;

/// <summary>
/// The worker's instruments on the static <c>Gearman.Reactive</c> meter; each test listens only to measurements tagged
/// with its own function name.
/// </summary>
[Trait("Category", "Integration")]
public sealed class WorkerMetricsTests
{
    private const string Started = "gearman.worker.jobs.started";
    private const string Finished = "gearman.worker.jobs.finished";
    private const string Duration = "gearman.worker.job.duration";
    private const string Active = "gearman.worker.jobs.active";

    private static GearmanClient NewClient(IServerUnderTest server)
        => new(GearmanClientOptions.Default with { Servers = [$"{server.Host}:{server.Port}"] });

    [Fact(Timeout = 60_000)]
    public async Task Each_way_a_handler_ends_a_job_has_its_outcome()
    {
        await using var server = await TestServers.StartAsync(ServerKind.Ours, ct: Ct);
        string fn = TestNames.Unique("wm_outcomes");
        using var probe = SdkMetricsProbe.ForFunction(fn);
        int retried = 0;
        await using var worker = new GearmanWorker(Options(server));
        worker.AddFunction(fn, async (job, ct) =>
        {
            switch (Text(job.Workload))
            {
                case "fail":
                    await job.FailAsync(ct);
                    return default;
                case "throw":
                    throw new InvalidOperationException("boom");
                case "retry" when Interlocked.Increment(ref retried) == 1:
                    throw new GearmanJobRetryException("again");
                default:
                    return job.Workload;
            }
        }, GearmanFunctionOptions.Default);
        await worker.StartAsync(Ct);
        await using var client = NewClient(server);

        Assert.Equal("ok", Text(await client.ExecuteAsync(fn, Bytes("ok"), cancellationToken: Ct)));
        await Assert.ThrowsAsync<GearmanJobFailedException>(() => client.ExecuteAsync(fn, Bytes("fail"), cancellationToken: Ct).AsTask());
        await Assert.ThrowsAsync<GearmanJobException>(() => client.ExecuteAsync(fn, Bytes("throw"), cancellationToken: Ct).AsTask());
        Assert.Equal("retry", Text(await client.ExecuteAsync(fn, Bytes("retry"), cancellationToken: Ct)));

        // A job's end is recorded before its result is sent, so everything is in by now.
        Assert.Equal(5, probe.Sum(Started));
        Assert.Equal(2, probe.Sum(Finished, "gearman.job.outcome=completed"));
        Assert.Equal(1, probe.Sum(Finished, "gearman.job.outcome=failed"));
        Assert.Equal(1, probe.Sum(Finished, "gearman.job.outcome=exception"));
        Assert.Equal(1, probe.Sum(Finished, "gearman.job.outcome=retried"));
        Assert.True(probe.Sum(Duration, "gearman.job.outcome=completed") > 0);
        Assert.True(probe.Sum(Duration, "gearman.job.outcome=retried") > 0);
        Assert.Equal(0, probe.Sum(Active));
    }

    [Fact(Timeout = 60_000)]
    public async Task A_running_job_is_active_until_it_ends()
    {
        await using var server = await TestServers.StartAsync(ServerKind.Ours, ct: Ct);
        string fn = TestNames.Unique("wm_active");
        using var probe = SdkMetricsProbe.ForFunction(fn);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = new GearmanWorker(Options(server));
        worker.AddFunction(fn, async (job, _) =>
        {
            await release.Task;
            return job.Workload;
        }, GearmanFunctionOptions.Default with { BoundedCapacity = 2, MaxDegreeOfParallelism = 2 });
        await worker.StartAsync(Ct);
        await using var client = NewClient(server);

        var first = client.ExecuteAsync(fn, Bytes("1"), cancellationToken: Ct).AsTask();
        var second = client.ExecuteAsync(fn, Bytes("2"), cancellationToken: Ct).AsTask();
        await probe.WaitUntilAsync(p => p.Sum(Active) == 2);
        Assert.Equal(0, probe.Sum(Finished));

        release.SetResult();
        await Task.WhenAll(first, second).Within();
        Assert.Equal(0, probe.Sum(Active));
        Assert.Equal(2, probe.Sum(Finished, "gearman.job.outcome=completed"));
    }

    [Fact(Timeout = 60_000)]
    public async Task A_job_past_its_timeout_ends_as_timeout_after_its_timeout_on_the_workers_clock()
    {
        await using var server = await TestServers.StartAsync(ServerKind.Ours, ct: Ct);
        string fn = TestNames.Unique("wm_timeout");
        using var probe = SdkMetricsProbe.ForFunction(fn);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = new GearmanWorker(Options(server) with { TimeProvider = time, ShutdownTimeout = TimeSpan.Zero });
        worker.AddFunction(fn, async (job, ct) =>
        {
            running.TrySetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            return default;
        }, GearmanFunctionOptions.Default with { Timeout = TimeSpan.FromSeconds(2) });
        await worker.StartAsync(Ct);
        await using var client = NewClient(server);

        var submitted = client.SubmitBackgroundAsync(fn, Bytes("slow"), cancellationToken: Ct);
        await running.Task.Within();
        time.Advance(TimeSpan.FromSeconds(2));

        await probe.WaitUntilAsync(p => p.Sum(Finished, "gearman.job.outcome=timeout") == 1);
        Assert.Equal(2, probe.Sum(Duration, "gearman.job.outcome=timeout"));
        await submitted;

        // The server requeues the job after its own (real-time) timeout and may assign it again: a stop ends every job.
        await worker.StopAsync(Ct).AsTask().Within();
        Assert.Equal(0, probe.Sum(Active));
        Assert.Equal(probe.Sum(Started), probe.Sum(Finished));
    }

    [Fact(Timeout = 60_000)]
    public async Task Jobs_still_held_when_a_stop_runs_out_of_time_end_as_abandoned()
    {
        await using var server = await TestServers.StartAsync(ServerKind.Ours, ct: Ct);
        string fn = TestNames.Unique("wm_abandon");
        using var probe = SdkMetricsProbe.ForFunction(fn);
        await using var worker = new GearmanWorker(Options(server) with { ShutdownTimeout = TimeSpan.Zero });
        var held = new BufferBlock<GearmanJob>();
        worker.Jobs(fn, GearmanFunctionOptions.Default).LinkTo(held);
        await worker.StartAsync(Ct);
        await using var client = NewClient(server);

        await client.SubmitBackgroundAsync(fn, Bytes("held"), cancellationToken: Ct);
        var job = await held.ReceiveAsync(WaitLimit, Ct);
        Assert.Equal(1, probe.Sum(Active));
        await worker.StopAsync(Ct).AsTask().Within();

        Assert.True(job.IsEnded);
        Assert.Equal(1, probe.Sum(Finished, "gearman.job.outcome=abandoned"));
        Assert.Equal(0, probe.Sum(Active));
    }
}
