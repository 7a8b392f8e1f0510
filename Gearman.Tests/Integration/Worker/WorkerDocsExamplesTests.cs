using System.Globalization;
using System.Text;
using System.Threading.Tasks.Dataflow;
using Gearman.Reactive.Client;
using Gearman.Reactive.Hosting;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Microsoft.Extensions.Hosting;
using Xunit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.Worker;

/// <summary>
/// The examples of docs/worker.md: each <c>// docs:</c> region is a block there (DocsSnippetsTests checks it), with the
/// server address, and <c>RunAsync</c> in the hosting example (which becomes start / stop), marked as the page shows them.
/// Each test has its own server, so the functions keep the names the page gives them.
/// </summary>
[Trait("Category", "Integration")]
public sealed class WorkerDocsExamplesTests
{
    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Quick_start(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string address = $"{server.Host}:{server.Port}";

        // docs: worker-quick-start
        await using var worker = new GearmanWorker(GearmanWorkerOptions.Default with { Servers = [address] }); // docs shows: await using var worker = new GearmanWorker(GearmanWorkerOptions.Default with { Servers = ["localhost:4730"] });
        worker.AddFunction("echo", (job, _) => ValueTask.FromResult(job.Workload), GearmanFunctionOptions.Default);
        await worker.StartAsync();
        // end

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        string h = await SubmitAsync(client, "echo", "ping");
        Assert.Equal([$"WorkComplete {h}|ping"], (await ReadUntilEndAsync(client)).Select(Describe));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task AddFunction_with_progress(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        await using var worker = new GearmanWorker(Options(server));

        // docs: worker-addfunction
        worker.AddFunction("reverse", async (job, ct) =>
        {
            await job.SendStatusAsync(1, 2, ct);                       // progress, to every waiting client
            byte[] reversed = job.Workload.ToArray();
            Array.Reverse(reversed);
            int half = reversed.Length / 2;
            await job.SendDataAsync(reversed.AsMemory(0, half), ct);  // a partial result (WORK_DATA)
            return reversed.AsMemory(half);                            // WORK_COMPLETE with the rest
        }, GearmanFunctionOptions.Default with { BoundedCapacity = 8, MaxDegreeOfParallelism = 4, Timeout = TimeSpan.FromMinutes(1) });
        // end
        await worker.StartAsync(Ct);

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        string h = await SubmitAsync(client, "reverse", "abcd");
        Assert.Equal([$"WorkStatus {h}|1|2", $"WorkData {h}|dc", $"WorkComplete {h}|ba"], (await ReadUntilEndAsync(client)).Select(Describe));

        // docs/client.md's quick start with this worker prints what it says: the data chunk and the rest, "olleh".
        await using var sdkClient = new GearmanClient(GearmanClientOptions.Default with { Servers = [$"{server.Host}:{server.Port}"] });
        Assert.Equal("olleh", Text(await sdkClient.ExecuteAsync("reverse", Bytes("hello"), cancellationToken: Ct).AsTask().Within()));
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Jobs_pipeline(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        await using var worker = new GearmanWorker(Options(server));
        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);

        // docs: worker-jobs
        var jobs = worker.Jobs("wordcount", GearmanFunctionOptions.Default with { BoundedCapacity = 16 });
        var count = new TransformBlock<GearmanJob, (GearmanJob Job, int Words)>(
            job => (job, Encoding.UTF8.GetString(job.Workload.Span).Split(' ', StringSplitOptions.RemoveEmptyEntries).Length),
            new ExecutionDataflowBlockOptions { BoundedCapacity = 8, MaxDegreeOfParallelism = 4, EnsureOrdered = false });
        var reply = new ActionBlock<(GearmanJob Job, int Words)>(
            item => item.Job.CompleteAsync(Encoding.UTF8.GetBytes(item.Words.ToString(CultureInfo.InvariantCulture))).AsTask(),
            new ExecutionDataflowBlockOptions { BoundedCapacity = 8, MaxDegreeOfParallelism = 1 });
        jobs.LinkTo(count, new DataflowLinkOptions { PropagateCompletion = true });
        count.LinkTo(reply, new DataflowLinkOptions { PropagateCompletion = true });
        await worker.StartAsync();
        await SubmitOneAsync(); // docs shows: // ...
        await worker.StopAsync();   // completes `jobs`; completion flows to `count`, then to `reply`
        await reply.Completion;
        // end

        async Task SubmitOneAsync()
        {
            string h = await SubmitAsync(client, "wordcount", "this dog does not hunt");
            Assert.Equal([$"WorkComplete {h}|5"], (await ReadUntilEndAsync(client)).Select(Describe));
        }
    }

    [Theory(Timeout = 60_000)]
    [BothServers]
    public async Task Hosting(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string address = $"{server.Host}:{server.Port}";

        // docs: worker-hosting
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddGearmanWorker(
            options => options with { Servers = [address], ClientId = "thumbnailer" }, // docs shows: options => options with { Servers = ["jobs1:4730", "jobs2:4730"], ClientId = "thumbnailer" },
            (services, worker) => worker.AddFunction("echo", (job, _) => ValueTask.FromResult(job.Workload), GearmanFunctionOptions.Default));
        using var host = builder.Build();
        await host.StartAsync(Ct); // docs shows: await host.RunAsync();
        // end

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        string h = await SubmitAsync(client, "echo", "hosted");
        Assert.Equal([$"WorkComplete {h}|hosted"], (await ReadUntilEndAsync(client)).Select(Describe));
        await host.StopAsync(Ct);
    }
}
