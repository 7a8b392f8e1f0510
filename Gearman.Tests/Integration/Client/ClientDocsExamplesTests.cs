using System.Reactive.Linq;
using System.Text;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.Hosting;
using Gearman.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using static Gearman.Tests.Integration.Client.ClientTestSupport;

namespace Gearman.Tests.Integration.Client;

/// <summary>
/// The examples of docs/client.md (each <c>// docs:</c> region below is a block there; see DocsSnippetsTests), run
/// against gearmand and our server with raw-packet workers for "reverse" (reverses, as docs/worker.md's worker does;
/// fails on "bad") and "resize" (fails on odd numbers).
/// </summary>
[Trait("Category", "Integration")]
public sealed class ClientDocsExamplesTests(ClientServerFixture servers) : IClassFixture<ClientServerFixture>
{
    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Quick_start(ServerKind kind)
    {
        var (server, reverse, _, workers) = await StartAsync(kind);
        await using var stop = workers;
        var output = new StringWriter();

        // docs: quick-start
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [server] }); // docs shows: await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = ["localhost:4730"] });

        ReadOnlyMemory<byte> result = await client.ExecuteAsync(reverse, Encoding.UTF8.GetBytes("hello")); // docs shows: ReadOnlyMemory<byte> result = await client.ExecuteAsync("reverse", Encoding.UTF8.GetBytes("hello"));
        output.WriteLine(Encoding.UTF8.GetString(result.Span)); // olleh
        // end

        Assert.Equal("olleh", output.ToString().Trim());
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Observing_events(ServerKind kind)
    {
        var (server, reverse, _, workers) = await StartAsync(kind);
        await using var stop = workers;
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [server] });
        var output = new StringWriter();

        // docs: events
        IObservable<TaskEvent> task = client.Submit(reverse, Encoding.UTF8.GetBytes("hello")); // docs shows: IObservable<TaskEvent> task = client.Submit("reverse", Encoding.UTF8.GetBytes("hello"));

        await task.Do(e =>
        {
            switch (e.Kind)
            {
                case TaskEventKind.Created: output.WriteLine($"queued as {e.Job.Handle}"); break;
                case TaskEventKind.Status: output.WriteLine($"{e.Numerator}/{e.Denominator}"); break;
                case TaskEventKind.Data: output.WriteLine($"chunk {Encoding.UTF8.GetString(e.Data.Span)}"); break;
                case TaskEventKind.Warning: output.WriteLine($"warning {Encoding.UTF8.GetString(e.Data.Span)}"); break;
                case TaskEventKind.Completed: output.WriteLine($"result {Encoding.UTF8.GetString(e.Data.Span)}"); break;
            }
        });
        // end

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.StartsWith("queued as ", lines[0], StringComparison.Ordinal);
        Assert.Equal(["1/2", "chunk ol", "warning half way", "2/2", "result leh"], lines[1..]);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Failures(ServerKind kind)
    {
        var (server, reverse, _, workers) = await StartAsync(kind);
        await using var stop = workers;
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [server] });
        var output = new StringWriter();

        // docs: failures
        try
        {
            await client.ExecuteAsync(reverse, Encoding.UTF8.GetBytes("bad"), new GearmanJobOptions { Timeout = TimeSpan.FromSeconds(30) }); // docs shows: await client.ExecuteAsync("reverse", Encoding.UTF8.GetBytes("bad"), new GearmanJobOptions { Timeout = TimeSpan.FromSeconds(30) });
        }
        catch (GearmanJobException ex) // WORK_EXCEPTION: the worker's message is in ExceptionData
        {
            output.WriteLine($"worker raised: {Encoding.UTF8.GetString(ex.ExceptionData.Span)}");
        }
        catch (GearmanJobFailedException ex) // WORK_FAIL
        {
            output.WriteLine($"job {ex.Handle} failed");
        }
        // end

        Assert.Equal("worker raised: cannot reverse 'bad'", output.ToString().Trim());
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Background_jobs_and_status(ServerKind kind)
    {
        var sut = await servers.GetAsync(kind);
        string server = sut.Address();
        string report = TestNames.Unique("nightly_report");
        var output = new SignalingWriter("known=");
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [server] });
        await using var worker = await TestWorker.StartAsync(sut, report, async job =>
        {
            await job.StatusAsync(50, 100);
            await output.Signaled; // the job stays queued or running until the example has read its status once
            await job.CompleteAsync("done");
        });

        // docs: background
        JobHandle job = await client.SubmitBackgroundAsync(report, Encoding.UTF8.GetBytes("2024-06"), // docs shows: JobHandle job = await client.SubmitBackgroundAsync("nightly_report", Encoding.UTF8.GetBytes("2024-06"),
            new GearmanJobOptions { Priority = JobPriority.Low, Unique = "report-2024-06" });

        JobStatus status = await client.GetStatusAsync(job);
        output.WriteLine($"known={status.IsKnown}");

        // Poll every 100 ms until the server forgets the job (it finished).
        await client.ObserveStatus(job, TimeSpan.FromMilliseconds(100))
            .Do(s => output.WriteLine($"running={s.IsRunning} {s.Numerator}/{s.Denominator}"))
            .LastAsync();
        // end

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal("known=True", lines[0]);
        Assert.Equal("running=False 0/0", lines[^1]);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Batch_with_bounded_concurrency_collecting_every_outcome(ServerKind kind)
    {
        var (server, _, resize, workers) = await StartAsync(kind);
        await using var stop = workers;
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [server] });
        var output = new StringWriter();

        // docs: batch
        // Ten tasks, at most four in flight (libgearman: add_task x10, then run_tasks).
        var outcomes = await Enumerable.Range(0, 10)
            .Select(i => client.Submit(resize, Encoding.UTF8.GetBytes($"{i}")) // docs shows: .Select(i => client.Submit("resize", Encoding.UTF8.GetBytes($"{i}"))
                .ToResult()
                .Select(result => (Index: i, Result: result, Error: (Exception?)null))
                .Catch((GearmanException error) => Observable.Return((Index: i, Result: ReadOnlyMemory<byte>.Empty, Error: (Exception?)error))))
            .Merge(maxConcurrent: 4)
            .Do(o =>
            {
                if (o.Error is not null) output.WriteLine($"task {o.Index} failed: {o.Error.GetType().Name}"); // react to each failure as it happens (Merge serialises this)
            })
            .ToList();

        var succeeded = outcomes.Where(o => o.Error is null).OrderBy(o => o.Index).Select(o => Encoding.UTF8.GetString(o.Result.Span));
        output.WriteLine(string.Join(",", succeeded));
        // end

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(10, outcomes.Count);
        Assert.Equal(["task 1 failed: GearmanJobFailedException", "task 3 failed: GearmanJobFailedException", "task 5 failed: GearmanJobFailedException", "task 7 failed: GearmanJobFailedException", "task 9 failed: GearmanJobFailedException"], lines[..^1].Order());
        Assert.Equal("small-0,small-2,small-4,small-6,small-8", lines[^1]);
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Batch_with_ForkJoin(ServerKind kind)
    {
        var (server, reverse, _, workers) = await StartAsync(kind);
        await using var stop = workers;
        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [server] });

        // docs: forkjoin
        string[] words = ["alpha", "beta", "gamma"];
        ReadOnlyMemory<byte>[] results = await ObservableEx.ForkJoin(
            words.Select(w => client.Submit(reverse, Encoding.UTF8.GetBytes(w)).ToResult())); // docs shows: words.Select(w => client.Submit("reverse", Encoding.UTF8.GetBytes(w)).ToResult()));
        // results[i] belongs to words[i]; the first failure would end the whole ForkJoin with that error.
        // end

        Assert.Equal(["ahpla", "ateb", "ammag"], results.Select(r => Text(r)));

        var failing = ObservableEx.ForkJoin(new[] { "ok", "bad" }.Select(w => client.Submit(reverse, Encoding.UTF8.GetBytes(w)).ToResult()));
        await Assert.ThrowsAsync<GearmanJobException>(async () => await failing);
    }

    [Fact(Timeout = 60_000)]
    public async Task Several_servers_and_DI()
    {
        // Construction connects nothing: servers are contacted on first use.
        {
            // docs: servers
            await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = ["gm1:4730", "gm2:4730", "gm3:4730"] });
            // end
            Assert.Equal(3, client.Sessions.Count);
        }

        {
            // docs: di
            var services = new ServiceCollection();
            services.AddLogging();
            services.AddGearmanClient(o => o with { Servers = ["gm1:4730", "gm2:4730"], ClientId = "web-frontend" });
            await using var provider = services.BuildServiceProvider(); // disposes the client: dispose it with DisposeAsync

            var client = provider.GetRequiredService<GearmanClient>(); // one shared instance
            // end
            Assert.Same(client, provider.GetRequiredService<GearmanClient>());
            Assert.Equal("web-frontend", client.Options.ClientId);
        }
    }

    /// <summary>
    /// The server, and two functions with workers: "reverse" (status, data, warning, status, result; WORK_EXCEPTION
    /// for "bad") and "resize" (result "small-N"; WORK_FAIL for odd N), each with two workers.
    /// </summary>
    private async Task<(string Server, string Reverse, string Resize, WorkerGroup Workers)> StartAsync(ServerKind kind)
    {
        var server = await servers.GetAsync(kind);
        var workers = new WorkerGroup();
        string reverse = TestNames.Unique("reverse");
        string resize = TestNames.Unique("resize");
        for (int i = 0; i < 2; i++)
        {
            var w = await TestWorker.StartAsync(server.Host, server.Port, [reverse, resize], async job =>
            {
                if (job.Function == resize)
                {
                    if (int.Parse(job.PayloadText, System.Globalization.CultureInfo.InvariantCulture) % 2 == 1) await job.FailAsync();
                    else await job.CompleteAsync("small-" + job.PayloadText);
                    return;
                }

                if (job.PayloadText == "bad")
                {
                    await job.ExceptionAsync("cannot reverse 'bad'");
                    return;
                }

                string reversed = new([.. job.PayloadText.Reverse()]);
                int half = reversed.Length / 2;
                await job.StatusAsync(1, 2);
                await job.DataAsync(reversed[..half]);
                await job.WarningAsync("half way");
                await job.StatusAsync(2, 2);
                await job.CompleteAsync(reversed[half..]);
            });
            workers.Add(w);
        }

        return (server.Address(), reverse, resize, workers);
    }
}

/// <summary>Workers started for one test; disposing stops them.</summary>
internal sealed class WorkerGroup : IAsyncDisposable
{
    private readonly List<TestWorker> _workers = [];

    public void Add(TestWorker worker) => _workers.Add(worker);

    public async ValueTask DisposeAsync()
    {
        foreach (var w in _workers) await w.DisposeAsync();
    }
}

/// <summary>A <see cref="StringWriter"/> that signals when a line containing a marker is written.</summary>
internal sealed class SignalingWriter(string marker) : StringWriter
{
    private readonly TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Signaled => _signal.Task;

    public override void WriteLine(string? value)
    {
        base.WriteLine(value);
        if (value?.Contains(marker, StringComparison.Ordinal) == true) _signal.TrySetResult();
    }
}
