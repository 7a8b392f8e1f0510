using System.Text;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Xunit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.Client;

/// <summary>
/// A task's events and a worker's jobs as <see cref="IAsyncEnumerable{T}"/>, and ECHO pings, against gearmand and our
/// server. The <c>docs:</c> regions are copied into docs/client.md and docs/worker.md.
/// </summary>
[Trait("Category", "Integration")]
public sealed class AsyncEnumerableTests(ClientServerFixture servers) : IClassFixture<ClientServerFixture>
{
    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Task_events_and_worker_jobs_stream_with_await_foreach(ServerKind kind)
    {
        var sut = await servers.GetAsync(kind);
        string server = sut.Address();
        string resize = TestNames.Unique("stream_resize");
        await using var worker = new GearmanWorker(Options(sut));
        var output = new StringWriter();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var cancellationToken = stop.Token;

        var serving = Task.Run(async () =>
        {
            // docs: worker-stream
            await foreach (GearmanJob job in worker.ReadJobsAsync(resize, GearmanFunctionOptions.Default with { BoundedCapacity = 4 }, cancellationToken))
            {
                await job.SendStatusAsync(1, 2, cancellationToken);
                await job.CompleteAsync(Encoding.UTF8.GetBytes("resized " + Encoding.UTF8.GetString(job.Workload.Span)), cancellationToken);
            }
            // end
        });
        await worker.StartAsync(Ct);

        // docs: client-stream
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [server] });

        await foreach (TaskEvent e in client.ReadEventsAsync(resize, Encoding.UTF8.GetBytes("cat.png"), cancellationToken: cancellationToken))
        {
            output.WriteLine(e.Kind == TaskEventKind.Completed ? $"result {Encoding.UTF8.GetString(e.Data.Span)}" : e.Kind.ToString());
        }
        // end

        Assert.Equal(["Created", "Status", "result resized cat.png"], output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        await worker.StopAsync(Ct);
        await serving.Within(); // the job stream ends when the worker stops grabbing
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_failed_job_ends_the_enumeration_with_the_same_exception_as_the_observable(ServerKind kind)
    {
        var sut = await servers.GetAsync(kind);
        string fn = TestNames.Unique("stream_fail");
        await using var worker = await StartWorkerAsync(Options(sut), fn, async (job, ct) =>
        {
            await job.SendDataAsync(Bytes("partial"), ct);
            await job.FailAsync(ct);
            return default;
        });
        await using var client = ClientTestSupport.NewClient(sut);

        var kinds = new List<TaskEventKind>();
        await Assert.ThrowsAsync<GearmanJobFailedException>(async () =>
        {
            await foreach (var e in client.ReadEventsAsync(fn, Bytes("x"), cancellationToken: Ct)) kinds.Add(e.Kind);
        }).WaitAsync(ClientTestSupport.Wait, Ct);
        Assert.Equal([TaskEventKind.Created, TaskEventKind.Data], kinds);
    }

    [Fact(Timeout = 60_000)]
    public async Task Each_enumeration_submits_once_and_a_job_timeout_throws_TimeoutException()
    {
        var sut = await servers.GetAsync(ServerKind.Ours);
        string fn = TestNames.Unique("stream_twice");
        int runs = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = await StartWorkerAsync(Options(sut), fn, async (job, ct) =>
        {
            if (Interlocked.Increment(ref runs) == 3) await release.Task.WaitAsync(ct);
            return job.Workload;
        });
        await using var client = ClientTestSupport.NewClient(sut);
        var events = client.ReadEventsAsync(fn, Bytes("y"));

        for (int i = 0; i < 2; i++)
        {
            var last = default(TaskEvent);
            await foreach (var e in events.WithCancellation(Ct)) last = e;
            Assert.Equal("y", Text(last.Data));
        }

        Assert.Equal(2, Volatile.Read(ref runs));
        var slow = client.ReadEventsAsync(fn, Bytes("z"), new GearmanJobOptions { Timeout = TimeSpan.FromMilliseconds(200) });
        await Assert.ThrowsAsync<TimeoutException>(async () =>
        {
            await foreach (var _ in slow.WithCancellation(Ct))
            {
            }
        }).WaitAsync(ClientTestSupport.Wait, Ct);
        release.TrySetResult();
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Ping_echoes_a_token_through_every_server_and_reports_one_that_is_down(ServerKind kind)
    {
        var sut = await servers.GetAsync(kind);
        int closedPort = LoopbackPorts.Unused();
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [sut.Address(), $"127.0.0.1:{closedPort}"] });
        await using var worker = new GearmanWorker(Options(sut));

        var results = await client.PingAsync(Ct).AsTask().WaitAsync(ClientTestSupport.Wait, Ct);
        var workerResults = await worker.PingAsync(Ct).AsTask().WaitAsync(ClientTestSupport.Wait, Ct);

        Assert.Equal([sut.Address(), $"127.0.0.1:{closedPort}"], results.Select(r => r.Server));
        Assert.True(results[0].Succeeded, results[0].Error?.ToString());
        Assert.True(results[0].RoundTrip > TimeSpan.Zero);
        Assert.False(results[1].Succeeded);
        Assert.IsType<GearmanConnectionException>(results[1].Error);
        Assert.True(Assert.Single(workerResults).Succeeded);
    }
}
