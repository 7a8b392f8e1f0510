using System.Collections.Concurrent;
using System.Threading.Tasks.Dataflow;
using Gearman.Reactive.Protocol;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Xunit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.Worker;

/// <summary>Parallelism, back-pressure, timeouts, lost workers and graceful stop, against a real job server.</summary>
[Trait("Category", "Integration")]
public sealed class WorkerFlowTests
{
    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Parallelism_is_honoured_and_no_more_than_capacity_is_grabbed(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_par");
        const int jobs = 8;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var threeRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var allDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int running = 0, maxRunning = 0, done = 0;
        await using var worker = new GearmanWorker(Options(server));
        worker.AddFunction(fn, async (job, ct) =>
        {
            int now = Interlocked.Increment(ref running);
            InterlockedMax(ref maxRunning, now);
            if (now == 3) threeRunning.TrySetResult();
            await gate.Task.WaitAsync(ct);
            Interlocked.Decrement(ref running);
            if (Interlocked.Increment(ref done) == jobs) allDone.TrySetResult();
            return job.Workload;
        }, GearmanFunctionOptions.Default with { BoundedCapacity = 3, MaxDegreeOfParallelism = 3 });

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        for (int i = 0; i < jobs; i++) await SubmitAsync(client, fn, $"job{i}", background: true);
        await worker.StartAsync(Ct);

        await threeRunning.Task.Within();
        // The server has assigned exactly three jobs: the worker did not grab a fourth while its block was full.
        var status = await WaitForStatusAsync(server, fn, s => s.Running == 3, "3 running");
        Assert.Equal(jobs, status.Total);

        gate.SetResult();
        await allDone.Task.Within();
        Assert.Equal(3, maxRunning);
        await WaitForStatusAsync(server, fn, s => s.Total == 0, "queue drained");
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_job_source_feeds_a_user_pipeline_and_bounds_the_jobs_in_flight(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_src");
        const int jobs = 5;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var results = new ConcurrentDictionary<string, string>();
        var worker = new GearmanWorker(Options(server));
        var source = worker.Jobs(fn, GearmanFunctionOptions.Default with { BoundedCapacity = 2 });

        // A user pipeline: transform the workload, then complete the job once the gate opens.
        var upper = new TransformBlock<GearmanJob, (GearmanJob Job, string Result)>(
            job => (job, Text(job.Workload).ToUpperInvariant()),
            new ExecutionDataflowBlockOptions { BoundedCapacity = 2, MaxDegreeOfParallelism = 2, EnsureOrdered = false });
        var complete = new ActionBlock<(GearmanJob Job, string Result)>(
            async r =>
            {
                await gate.Task;
                results[r.Job.Handle] = r.Result;
                await r.Job.CompleteAsync(Bytes(r.Result));
            },
            new ExecutionDataflowBlockOptions { BoundedCapacity = 2, MaxDegreeOfParallelism = 2 });
        using var link1 = source.LinkTo(upper, new DataflowLinkOptions { PropagateCompletion = true });
        using var link2 = upper.LinkTo(complete, new DataflowLinkOptions { PropagateCompletion = true });

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        var handles = new List<string>();
        for (int i = 0; i < jobs; i++) handles.Add(await SubmitAsync(client, fn, $"job{i}"));
        await worker.StartAsync(Ct);

        var status = await WaitForStatusAsync(server, fn, s => s.Running == 2, "2 running");
        Assert.Equal(jobs, status.Total);

        gate.SetResult();
        var completed = new Dictionary<string, string>();
        while (completed.Count < jobs)
        {
            var p = await client.ExpectPacketAsync(PacketType.WorkComplete, WaitLimit);
            var f = p.Strings();
            completed[f[0]] = f[1];
        }

        Assert.Equal(handles.Order(), completed.Keys.Order());
        Assert.Equal(Enumerable.Range(0, jobs).Select(i => $"JOB{i}").Order(), completed.Values.Order());

        // Stopping completes the source, and completion flows down the user's links.
        await worker.DisposeAsync();
        await complete.Completion.Within();
        Assert.True(source.Completion.IsCompleted);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_full_function_does_not_hold_up_another_function(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string slow = TestNames.Unique("w_slow");
        string fast = TestNames.Unique("w_fast");
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = new GearmanWorker(Options(server));
        worker.AddFunction(slow, async (job, ct) =>
        {
            await gate.Task.WaitAsync(ct);
            return job.Workload;
        }, GearmanFunctionOptions.Default);
        worker.AddFunction(fast, Echo, GearmanFunctionOptions.Default);
        await worker.StartAsync(Ct);

        await using var slowClient = await RawGearmanConnection.ConnectAsync(server, Ct);
        await SubmitAsync(slowClient, slow, "s1");
        await SubmitAsync(slowClient, slow, "s2");
        await WaitForStatusAsync(server, slow, s => s.Running == 1 && s.Total == 2, "slow full");

        await using var fastClient = await RawGearmanConnection.ConnectAsync(server, Ct);
        string h = await SubmitAsync(fastClient, fast, "f1");
        Assert.Equal([$"WorkComplete {h}|f1"], (await ReadUntilEndAsync(fastClient)).Select(Describe));

        gate.SetResult();
        Assert.Equal(PacketType.WorkComplete, (PacketType)(await ReadUntilEndAsync(slowClient))[^1].Type);
        Assert.Equal(PacketType.WorkComplete, (PacketType)(await ReadUntilEndAsync(slowClient))[^1].Type);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_handler_over_its_timeout_is_cancelled_and_the_job_runs_again(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_timeout");
        var cancelled = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handles = new ConcurrentQueue<string>();
        await using var worker = await StartWorkerAsync(Options(server), fn, async (job, ct) =>
        {
            handles.Enqueue(job.Handle);
            if (handles.Count == 1)
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, ct);
                }
                catch (OperationCanceledException)
                {
                    cancelled.SetResult(job.Handle);
                    throw;
                }
            }

            return Bytes("second run");
        }, GearmanFunctionOptions.Default with { Timeout = TimeSpan.FromSeconds(1) });

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        string h = await SubmitAsync(client, fn, "slow");

        // The first run's token fires; the server gives the job out again, here to the same worker.
        Assert.Equal(h, await cancelled.Task.Within());
        Assert.Equal([$"WorkComplete {h}|second run"], (await ReadUntilEndAsync(client)).Select(Describe));
        Assert.Equal([h, h], handles);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_worker_that_dies_mid_job_leaves_the_job_to_another_worker(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_die");
        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        string h = await SubmitAsync(client, fn, "payload");

        // A raw worker takes the job and its connection drops without a result.
        await using (var dying = await RawGearmanConnection.ConnectAsync(server, Ct))
        {
            await dying.SendAsync(PacketType.CanDo, fn);
            await dying.SendAsync(PacketType.GrabJobAll);
            var assign = await dying.ExpectPacketAsync(PacketType.JobAssignUniq, WaitLimit);
            Assert.Equal(h, assign.Strings()[0]);
        }

        await using var worker = await StartWorkerAsync(Options(server), fn, Replying(job => "rescued " + Text(job.Workload)));

        Assert.Equal([$"WorkComplete {h}|rescued payload"], (await ReadUntilEndAsync(client)).Select(Describe));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task When_our_worker_goes_away_mid_job_its_token_fires_and_another_worker_finishes_the_job(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_away");
        var started = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var tokenFired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // No grace period: stopping this worker is like killing it.
        var first = await StartWorkerAsync(Options(server) with { ShutdownTimeout = TimeSpan.Zero }, fn, async (job, ct) =>
        {
            started.SetResult(job.Handle);
            ct.Register(() => tokenFired.TrySetResult());
            await Task.Delay(Timeout.Infinite, ct);
            return Bytes("never");
        });

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        string h = await SubmitAsync(client, fn, "payload");
        Assert.Equal(h, await started.Task.Within());

        await using var second = await StartWorkerAsync(Options(server), fn, Replying(job => "second " + job.Handle));
        await WaitForStatusAsync(server, fn, s => s.Workers == 2, "2 workers");

        await first.DisposeAsync().AsTask().Within();
        await tokenFired.Task.Within();
        Assert.Equal([$"WorkComplete {h}|second {h}"], (await ReadUntilEndAsync(client)).Select(Describe));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Graceful_stop_finishes_the_jobs_in_flight_and_leaves_the_rest_queued(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_stop");
        const int jobs = 10;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var threeStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new ConcurrentBag<string>();
        var finished = new ConcurrentBag<string>();
        var first = new GearmanWorker(Options(server));
        first.AddFunction(fn, async (job, ct) =>
        {
            started.Add(Text(job.Workload));
            if (started.Count == 3) threeStarted.TrySetResult();
            await gate.Task.WaitAsync(ct);
            finished.Add(Text(job.Workload));
            return job.Workload;
        }, GearmanFunctionOptions.Default with { BoundedCapacity = 3, MaxDegreeOfParallelism = 3 });

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        for (int i = 0; i < jobs; i++) await SubmitAsync(client, fn, $"j{i}", background: true);
        await first.StartAsync(Ct);
        await threeStarted.Task.Within();

        var stop = first.StopAsync(Ct).AsTask();
        Assert.False(stop.IsCompleted, "the stop waits for the jobs in flight");
        gate.SetResult();
        await stop.Within();

        Assert.Equal(started.Order(), finished.Order());
        Assert.Equal(3, finished.Count);
        var status = await WaitForStatusAsync(server, fn, s => s.Running == 0, "none running");
        Assert.Equal(jobs - 3, status.Total);

        // The rest is still there for the next worker: nothing lost, nothing run twice.
        var rest = new ConcurrentBag<string>();
        var restDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var second = await StartWorkerAsync(Options(server), fn, (job, _) =>
        {
            rest.Add(Text(job.Workload));
            if (rest.Count == jobs - 3) restDone.TrySetResult();
            return ValueTask.FromResult(job.Workload);
        }, GearmanFunctionOptions.Default with { BoundedCapacity = 4, MaxDegreeOfParallelism = 4 });
        await restDone.Task.Within();
        Assert.Equal(Enumerable.Range(0, jobs).Select(i => $"j{i}").Order(), finished.Concat(rest).Order());
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_stop_that_runs_out_of_time_cancels_the_job_and_the_server_keeps_it(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_stop_to");
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool cancelled = false;
        var worker = await StartWorkerAsync(Options(server) with { ShutdownTimeout = TimeSpan.FromMilliseconds(200) }, fn, async (job, ct) =>
        {
            started.SetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                cancelled = true;
                throw;
            }

            return job.Workload;
        });

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        await SubmitAsync(client, fn, "kept", background: true);
        await started.Task.Within();
        await worker.StopAsync(Ct).AsTask().Within();

        Assert.True(cancelled);
        var status = await WaitForStatusAsync(server, fn, s => s.Running == 0 && s.Workers == 0, "back in the queue");
        Assert.Equal(1, status.Total);
    }

    [Theory(Timeout = 90_000)]
    [BothServers]
    public async Task Hundreds_of_jobs_on_two_servers_all_complete_once_within_the_bound(ServerKind kind)
    {
        await using var a = await TestServers.StartAsync(kind, ct: Ct);
        await using var b = await TestServers.StartAsync(kind, ct: Ct);
        string fn = TestNames.Unique("w_many");
        const int perServer = 200;
        int running = 0, maxRunning = 0, runs = 0;
        var allDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = new GearmanWorker(Options(a, b));
        worker.AddFunction(fn, async (job, ct) =>
        {
            InterlockedMax(ref maxRunning, Interlocked.Increment(ref running));
            await Task.Yield();
            Interlocked.Decrement(ref running);
            if (Interlocked.Increment(ref runs) == 2 * perServer) allDone.TrySetResult();
            return job.Workload;
        }, GearmanFunctionOptions.Default with { BoundedCapacity = 6, MaxDegreeOfParallelism = 4 });

        var clients = new List<(RawGearmanConnection Client, Dictionary<string, string> Expected)>();
        foreach (var server in new[] { a, b })
        {
            var client = await RawGearmanConnection.ConnectAsync(server, Ct);
            var expected = new Dictionary<string, string>();
            for (int i = 0; i < perServer; i++) expected[await SubmitAsync(client, fn, $"{server.Port}-{i}")] = $"{server.Port}-{i}";
            clients.Add((client, expected));
        }

        await worker.StartAsync(Ct);
        foreach (var (client, expected) in clients)
        {
            await using var _ = client;
            var seen = new Dictionary<string, string>();
            while (seen.Count < perServer)
            {
                var f = (await client.ExpectPacketAsync(PacketType.WorkComplete, WaitLimit)).Strings();
                Assert.True(seen.TryAdd(f[0], f[1]), $"{f[0]} completed twice");
            }

            Assert.Equal(expected.OrderBy(e => e.Key), seen.OrderBy(e => e.Key));
        }

        await allDone.Task.Within();
        Assert.Equal(2 * perServer, runs);
        Assert.InRange(maxRunning, 1, 4);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
