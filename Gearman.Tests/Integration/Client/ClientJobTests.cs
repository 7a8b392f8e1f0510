using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.Hosting;
using Gearman.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Xunit;
using static Gearman.Tests.Integration.Client.ClientTestSupport;

namespace Gearman.Tests.Integration.Client;

/// <summary>The client against a real job server (gearmand and ours), with raw-packet workers.</summary>
[Trait("Category", "Integration")]
public sealed class ClientJobTests(ClientServerFixture servers) : IClassFixture<ClientServerFixture>
{
    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Every_event_type_arrives_in_order_then_the_stream_completes(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("events");
        await using var worker = await TestWorker.StartAsync(server, fn, async job =>
        {
            await job.StatusAsync(1, 4);
            await job.DataAsync("d1");
            await job.WarningAsync("w1");
            await job.StatusAsync(3, 4);
            await job.DataAsync("d2");
            await job.CompleteAsync("done");
        });
        await using var client = NewClient(server);

        var events = await client.Submit(fn, Bytes("payload")).EventsAsync();

        Assert.Equal(
            [TaskEventKind.Created, TaskEventKind.Status, TaskEventKind.Data, TaskEventKind.Warning, TaskEventKind.Status, TaskEventKind.Data, TaskEventKind.Completed],
            events.Select(e => e.Kind));
        Assert.Equal((1, 4), (events[1].Numerator, events[1].Denominator));
        Assert.Equal("d1", Text(events[2].Data));
        Assert.Equal("w1", Text(events[3].Data));
        Assert.Equal(new JobProgress(3, 4), events[4].Progress);
        Assert.Equal("d2", Text(events[5].Data));
        Assert.Equal("done", Text(events[6].Data));
        var job = Assert.Single(worker.Jobs);
        Assert.Equal("payload", job.PayloadText);
        Assert.All(events, e => Assert.Equal(new JobHandle(server.Address(), job.Handle), e.Job));
        Assert.True(Guid.TryParse(job.Unique, out _), $"a fresh UUID is sent as unique ID, got '{job.Unique}'");
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Work_fail_ends_the_stream_with_GearmanJobFailedException_after_earlier_events(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("fail");
        await using var worker = await TestWorker.StartAsync(server, fn, async job =>
        {
            await job.DataAsync("partial");
            await job.FailAsync();
        });
        await using var client = NewClient(server);

        var notifications = await client.Submit(fn, Bytes("x")).MaterializeAsync();

        Assert.Equal(3, notifications.Count);
        Assert.Equal(TaskEventKind.Created, notifications[0].Value.Kind);
        Assert.Equal("partial", Text(notifications[1].Value.Data));
        var error = Assert.IsType<GearmanJobFailedException>(notifications[2].Exception);
        Assert.Equal(fn, error.Function);
        Assert.Equal(Assert.Single(worker.Jobs).Handle, error.Handle);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Work_exception_reaches_the_client_with_its_data_because_exceptions_are_on_by_default(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("exc");
        await using var worker = await TestWorker.StartAsync(server, fn, job => job.ExceptionAsync("boom: disk full"));
        await using var client = NewClient(server);

        var error = await Assert.ThrowsAsync<GearmanJobException>(() => client.ExecuteAsync(fn, Bytes("x"), cancellationToken: Ct).AsTask());

        Assert.Equal("boom: disk full", Text(error.ExceptionData));
        Assert.Equal(fn, error.Function);
        Assert.Contains("boom: disk full", error.Message, StringComparison.Ordinal);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Without_the_exceptions_option_a_work_exception_arrives_as_work_fail(ServerKind kind)
    {
        // gearmand turns it into WORK_FAIL "H\0" (trailing NUL, protocol.md §2.9): the client must still match the handle.
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("exc_off");
        await using var worker = await TestWorker.StartAsync(server, fn, job => job.ExceptionAsync("boom"));
        await using var client = NewClient(GearmanClientOptions.Default with { Servers = [server.Address()], EnableExceptions = false });

        var error = await Assert.ThrowsAsync<GearmanJobFailedException>(() => client.ExecuteAsync(fn, Bytes("x"), cancellationToken: Ct).AsTask());

        Assert.Equal(Assert.Single(worker.Jobs).Handle, error.Handle);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task ExecuteAsync_returns_data_chunks_then_the_result_and_reports_progress(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("exec");
        await using var worker = await TestWorker.StartAsync(server, fn, async job =>
        {
            await job.StatusAsync(1, 2);
            await job.DataAsync("ab");
            await job.WarningAsync("ignored");
            await job.StatusAsync(2, 2);
            await job.DataAsync("cd");
            await job.CompleteAsync(job.PayloadText.ToUpperInvariant());
        });
        await using var client = NewClient(server);
        var progress = new RecordingProgress<JobProgress>();

        var result = await client.ExecuteAsync(fn, Bytes("ef"), progress: progress, cancellationToken: Ct);

        Assert.Equal("abcdEF", Text(result));
        Assert.Equal([new JobProgress(1, 2), new JobProgress(2, 2)], progress.Reports);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Background_job_returns_its_handle_and_its_status_follows_the_worker(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("bg");
        string unique = TestNames.Unique("u");
        await using var client = NewClient(server);

        var handle = await client.SubmitBackgroundAsync(fn, Bytes("work"), new GearmanJobOptions { Unique = unique }, Ct);

        Assert.Equal(server.Address(), handle.Server);
        Assert.Equal(new JobStatus(true, false, 0, 0), await client.GetStatusAsync(handle, Ct));

        var statusSent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = await TestWorker.StartAsync(server, fn, async job =>
        {
            await job.StatusAsync(3, 7);
            await job.SyncAsync();
            statusSent.SetResult();
            await release.Task;
            await job.CompleteAsync("ok");
            await job.SyncAsync();
            finished.SetResult();
        });
        await statusSent.Task.WaitAsync(Wait, Ct);

        Assert.Equal(new JobStatus(true, true, 3, 7), await client.GetStatusAsync(handle, Ct));
        Assert.Equal(new JobStatus(true, true, 3, 7, ClientCount: 0), await client.GetStatusByUniqueAsync(unique, Ct));

        release.SetResult();
        await finished.Task.WaitAsync(Wait, Ct);
        Assert.Equal(new JobStatus(false, false, 0, 0), await client.GetStatusAsync(handle, Ct));
        Assert.Equal(handle.Handle, Assert.Single(worker.Jobs).Handle);
        Assert.Equal(unique, worker.Jobs.Single().Unique);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Background_submit_through_the_observable_yields_Created_and_completes(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("bg_obs");
        await using var client = NewClient(server);

        var events = await client.Submit(fn, Bytes("w"), new GearmanJobOptions { Background = true }).EventsAsync();

        var created = Assert.Single(events);
        Assert.Equal(TaskEventKind.Created, created.Kind);
        Assert.True((await client.GetStatusAsync(created.Job, Ct)).IsKnown);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task ObserveStatus_polls_until_the_job_is_gone(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("poll");
        await using var client = NewClient(server);
        var handle = await client.SubmitBackgroundAsync(fn, Bytes("w"), cancellationToken: Ct);
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = await TestWorker.StartAsync(server, fn, async job =>
        {
            await job.StatusAsync(1, 3);
            await job.SyncAsync();
            running.SetResult();
            await release.Task;
            await job.CompleteAsync("ok");
        });
        await running.Task.WaitAsync(Wait, Ct);

        var statuses = client.ObserveStatus(handle, TimeSpan.FromMilliseconds(20)).Replay();
        using var connection = statuses.Connect();
        var first = await statuses.FirstAsync().ToTask(Ct).WaitAsync(Wait, Ct);
        release.SetResult();
        var all = await statuses.ToList().ToTask(Ct).WaitAsync(Wait, Ct);

        Assert.Equal(new JobStatus(true, true, 1, 3), first);
        Assert.False(all[^1].IsKnown);
        Assert.All(all.SkipLast(1), s => Assert.True(s.IsKnown));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Queued_jobs_run_high_then_normal_then_low(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("prio");
        await using var client = NewClient(server);

        // Background: queued before any worker exists.
        foreach (var (priority, name) in new[] { (JobPriority.Low, "bg-low"), (JobPriority.Normal, "bg-normal"), (JobPriority.High, "bg-high") })
        {
            await client.SubmitBackgroundAsync(fn, Bytes(name), new GearmanJobOptions { Priority = priority }, Ct);
        }

        // Foreground: acknowledged (Created) before the worker starts.
        var low = client.Submit(fn, Bytes("fg-low"), new GearmanJobOptions { Priority = JobPriority.Low }).StartNow();
        await low.CreatedAsync();
        var normal = client.Submit(fn, Bytes("fg-normal")).StartNow();
        await normal.CreatedAsync();
        var high = client.Submit(fn, Bytes("fg-high"), new GearmanJobOptions { Priority = JobPriority.High }).StartNow();
        await high.CreatedAsync();

        await using var worker = await TestWorker.StartAsync(server, fn, job => job.CompleteAsync(job.PayloadText));
        await Task.WhenAll(low.EventsAsync(), normal.EventsAsync(), high.EventsAsync());

        // FIFO within a priority; high before normal before low.
        Assert.Equal(["bg-high", "fg-high", "bg-normal", "fg-normal", "bg-low", "fg-low"], worker.Jobs.Select(j => j.PayloadText));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Submits_with_one_unique_id_coalesce_into_one_job_across_subscriptions_and_clients(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("coalesce");
        string unique = TestNames.Unique("u");
        await using var client1 = NewClient(server);
        await using var client2 = NewClient(server);
        var options = new GearmanJobOptions { Unique = unique };

        var a = client1.Submit(fn, Bytes("first"), options).StartNow();
        await a.CreatedAsync();
        var b = client1.Submit(fn, Bytes("second"), options).StartNow();
        var c = client2.Submit(fn, Bytes("third"), options).StartNow();
        var handles = await Task.WhenAll(a.CreatedAsync(), b.CreatedAsync(), c.CreatedAsync());

        await using var worker = await TestWorker.StartAsync(server, fn, async job =>
        {
            await job.DataAsync("chunk");
            await job.CompleteAsync("result of " + job.PayloadText);
        });
        var results = await Task.WhenAll(a.EventsAsync(), b.EventsAsync(), c.EventsAsync());

        var job = Assert.Single(worker.Jobs);
        Assert.Equal("first", job.PayloadText);
        Assert.All(handles, h => Assert.Equal(job.Handle, h.Job.Handle));
        foreach (var events in results)
        {
            // Exactly once each: client1 coalesced its two submits locally, so gearmand attached its connection once.
            Assert.Equal([TaskEventKind.Created, TaskEventKind.Data, TaskEventKind.Completed], events.Select(e => e.Kind));
            Assert.Equal("result of first", Text(events[^1].Data));
        }
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task The_observable_is_cold_each_subscription_submits_again(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("cold");
        await using var worker = await TestWorker.StartAsync(server, fn, job => job.CompleteAsync("r"));
        await using var client = NewClient(server);
        var task = client.Submit(fn, Bytes("p"));

        var first = await task.EventsAsync();
        var second = await task.EventsAsync();

        Assert.Equal(2, worker.Jobs.Count);
        Assert.NotEqual(first[0].Job, second[0].Job);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Disposing_a_subscription_detaches_and_the_client_keeps_working(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("detach");
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = await TestWorker.StartAsync(server, fn, async job =>
        {
            if (job.PayloadText == "slow")
            {
                await release.Task;
                await job.DataAsync("late");
                await job.CompleteAsync("late result");
                await job.SyncAsync();
                finished.SetResult();
            }
            else
            {
                await job.CompleteAsync("fast result");
            }
        });
        await using var client = NewClient(server);
        var received = new List<string>();
        var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var subscription = client.Submit(fn, Bytes("slow")).Subscribe(
            e =>
            {
                lock (received) received.Add(e.Kind.ToString());
                if (e.Kind == TaskEventKind.Created) created.TrySetResult();
            },
            ex => { lock (received) received.Add("error"); },
            () => { lock (received) received.Add("completed"); });
        await created.Task.WaitAsync(Wait, Ct);

        subscription.Dispose();
        release.SetResult();
        await finished.Task.WaitAsync(Wait, Ct);

        // The job ran to completion on the worker (Gearman cannot cancel it); the late packets were dropped.
        Assert.Equal("fast result", Text(await client.ExecuteAsync(fn, Bytes("fast"), cancellationToken: Ct)));
        lock (received) Assert.Equal(["Created"], received);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Cancelling_ExecuteAsync_throws_OperationCanceledException(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("cancel");
        var assigned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var worker = await TestWorker.StartAsync(server, fn, async job =>
        {
            assigned.SetResult();
            await release.Task;
            await job.CompleteAsync("too late");
        });
        await using var client = NewClient(server);
        using var cts = new CancellationTokenSource();

        var execute = client.ExecuteAsync(fn, Bytes("x"), cancellationToken: cts.Token).AsTask();
        await assigned.Task.WaitAsync(Wait, Ct);
        cts.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => execute.WaitAsync(Wait, Ct));
        release.SetResult();
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_job_timeout_ends_the_task_with_TimeoutException(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("timeout");
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var client = NewClient(GearmanClientOptions.Default with { Servers = [server.Address()], TimeProvider = time });

        var task = client.Submit(fn, Bytes("never runs"), new GearmanJobOptions { Timeout = TimeSpan.FromSeconds(5) }).StartNow();
        await task.CreatedAsync();
        time.Advance(TimeSpan.FromSeconds(6));

        var error = await Assert.ThrowsAsync<TimeoutException>(() => task.EventsAsync());
        Assert.Contains(fn, error.Message, StringComparison.Ordinal);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_full_queue_fails_the_submit_with_the_servers_error(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("full");
        await using var client = NewClient(server);
        await client.SubmitBackgroundAsync(fn, Bytes("1"), cancellationToken: Ct);
        await using (var admin = await RawGearmanConnection.ConnectAsync(server, Ct))
        {
            Assert.Equal("OK", await admin.AdminAsync($"maxqueue {fn} 1"));
        }

        var error = await Assert.ThrowsAsync<GearmanServerErrorException>(() => client.SubmitBackgroundAsync(fn, Bytes("2"), cancellationToken: Ct).AsTask());

        Assert.Equal("QUEUE_ERROR", error.Code);

        // The ERROR was charged to that submit alone: the connection stays in step.
        string other = TestNames.Unique("after_full");
        await using var worker = await TestWorker.StartAsync(server, other, job => job.CompleteAsync("fine"));
        Assert.Equal("fine", Text(await client.ExecuteAsync(other, Bytes("x"), cancellationToken: Ct)));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Epoch_job_in_the_past_runs_and_one_in_the_future_waits(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string due = TestNames.Unique("epoch_due");
        string later = TestNames.Unique("epoch_later");
        await using var client = NewClient(server);
        var ran = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);

        var dueHandle = await client.SubmitBackgroundAsync(due, Bytes("now"), new GearmanJobOptions { RunAt = DateTimeOffset.UtcNow.AddSeconds(-10) }, Ct);
        var laterHandle = await client.SubmitBackgroundAsync(later, Bytes("later"), new GearmanJobOptions { RunAt = DateTimeOffset.UtcNow.AddHours(1) }, Ct);
        await using var worker = await TestWorker.StartAsync(server, due, async job =>
        {
            await job.CompleteAsync("ok");
            ran.TrySetResult(job.Handle);
        });

        Assert.Equal(dueHandle.Handle, await ran.Task.WaitAsync(Wait, Ct));
        Assert.Equal(new JobStatus(true, false, 0, 0), await client.GetStatusAsync(laterHandle, Ct));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task A_reduce_job_carries_its_reducer_to_the_worker(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string mapper = TestNames.Unique("map");
        string reducer = TestNames.Unique("reduce");
        await using var worker = await TestWorker.StartAsync(server, mapper, job => job.CompleteAsync($"{job.Reducer}:{job.PayloadText}"));
        await using var client = NewClient(server);

        var result = await client.ExecuteAsync(mapper, Bytes("a b c"), new GearmanJobOptions { Reducer = reducer }, cancellationToken: Ct);

        Assert.Equal($"{reducer}:a b c", Text(result));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task AddGearmanClient_registers_a_client_with_the_containers_logger_factory(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        string fn = TestNames.Unique("di");
        await using var worker = await TestWorker.StartAsync(server, fn, job => job.CompleteAsync("from DI"));
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddGearmanClient(o => o with { Servers = [server.Address()], ClientId = "di-test" });
        await using var provider = services.BuildServiceProvider();

        var client = provider.GetRequiredService<GearmanClient>();

        Assert.Same(provider.GetRequiredService<ILoggerFactory>(), client.Options.LoggerFactory);
        Assert.Same(client.Options, provider.GetRequiredService<GearmanClientOptions>());
        Assert.Equal("from DI", Text(await client.ExecuteAsync(fn, Bytes("x"), cancellationToken: Ct)));
    }

    [Fact(Timeout = 60_000)]
    public async Task Submit_validates_its_arguments_eagerly()
    {
        await using var client = new GearmanClient(GearmanClientOptions.Default);

        Assert.Throws<ArgumentException>(() => client.Submit(string.Empty, Bytes("x")));
        Assert.Throws<ArgumentException>(() => client.Submit("f", Bytes("x"), new GearmanJobOptions { Unique = new string('u', 65) }));
        Assert.Throws<ArgumentException>(() => client.Submit("f", Bytes("x"), new GearmanJobOptions { RunAt = DateTimeOffset.UtcNow }));
        Assert.Throws<ArgumentException>(() => client.Submit("f", Bytes("x"), new GearmanJobOptions { Background = true, RunAt = DateTimeOffset.UtcNow, Priority = JobPriority.High }));
        Assert.Throws<ArgumentException>(() => client.Submit("f", Bytes("x"), new GearmanJobOptions { Reducer = "r", Priority = JobPriority.Low }));
        Assert.Throws<ArgumentException>(() => client.ExecuteAsync("f", Bytes("x"), new GearmanJobOptions { Background = true }));
        Assert.Throws<ArgumentException>(() => new GearmanClient(GearmanClientOptions.Default with { Servers = [] }));
        Assert.Throws<ArgumentException>(() => new GearmanClient(GearmanClientOptions.Default with { Servers = ["a:1", "a:1"] }));
        Assert.Throws<FormatException>(() => new GearmanClient(GearmanClientOptions.Default with { Servers = ["a:notaport"] }));
    }

    [Fact(Timeout = 60_000)]
    public async Task A_disposed_client_refuses_new_work()
    {
        var client = new GearmanClient(GearmanClientOptions.Default);
        await client.DisposeAsync();
        await client.DisposeAsync();

        Assert.Throws<ObjectDisposedException>(() => client.Submit("f", Bytes("x")));
        Assert.Throws<ObjectDisposedException>(() => client.ExecuteAsync("f", Bytes("x")));
    }
}
