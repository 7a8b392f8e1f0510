using System.Globalization;
using System.Text;
using System.Threading.Tasks.Dataflow;
using Gearman.Reactive.Hosting;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Microsoft.Extensions.Hosting;
using Xunit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.Worker;

/// <summary>
/// The examples of docs/worker.md, verbatim except for the server address (and <c>RunAsync</c> in the hosting example,
/// which becomes start / stop). Keep the two in step.
/// </summary>
public sealed class WorkerDocsExamplesTests
{
    [Theory(Timeout = 60_000)]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Quick_start(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string address = $"{server.Host}:{server.Port}";

        // --- docs/worker.md: Quick start (function renamed per test run) ---
        string echo = TestNames.Unique("echo");
        await using var worker = new GearmanWorker(GearmanWorkerOptions.Default with { Servers = [address] });
        worker.AddFunction(echo, (job, _) => ValueTask.FromResult(job.Workload), GearmanFunctionOptions.Default);
        await worker.StartAsync();
        // ---

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        string h = await SubmitAsync(client, echo, "ping");
        Assert.Equal([$"WorkComplete {h}|ping"], (await ReadUntilEndAsync(client)).Select(Describe));
    }

    [Theory(Timeout = 60_000)]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task AddFunction_with_progress(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        await using var worker = new GearmanWorker(Options(server));
        string reverse = TestNames.Unique("reverse");

        // --- docs/worker.md: AddFunction ---
        worker.AddFunction(reverse, async (job, ct) =>
        {
            await job.SendStatusAsync(1, 2, ct);                       // progress, to every waiting client
            byte[] reversed = job.Workload.ToArray();
            Array.Reverse(reversed);
            await job.SendDataAsync(reversed.AsMemory(0, 1), ct);     // a partial result (WORK_DATA)
            return reversed;                                           // WORK_COMPLETE with this payload
        }, GearmanFunctionOptions.Default with { BoundedCapacity = 8, MaxDegreeOfParallelism = 4, Timeout = TimeSpan.FromMinutes(1) });
        // ---
        await worker.StartAsync(Ct);

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        string h = await SubmitAsync(client, reverse, "abc");
        Assert.Equal([$"WorkStatus {h}|1|2", $"WorkData {h}|c", $"WorkComplete {h}|cba"], (await ReadUntilEndAsync(client)).Select(Describe));
    }

    [Theory(Timeout = 60_000)]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Jobs_pipeline(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        await using var worker = new GearmanWorker(Options(server));
        string wordcount = TestNames.Unique("wordcount");
        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);

        // --- docs/worker.md: Jobs ---
        var jobs = worker.Jobs(wordcount, GearmanFunctionOptions.Default with { BoundedCapacity = 16 });
        var count = new TransformBlock<GearmanJob, (GearmanJob Job, int Words)>(
            job => (job, Encoding.UTF8.GetString(job.Workload.Span).Split(' ', StringSplitOptions.RemoveEmptyEntries).Length),
            new ExecutionDataflowBlockOptions { BoundedCapacity = 8, MaxDegreeOfParallelism = 4, EnsureOrdered = false });
        var reply = new ActionBlock<(GearmanJob Job, int Words)>(
            item => item.Job.CompleteAsync(Encoding.UTF8.GetBytes(item.Words.ToString(CultureInfo.InvariantCulture))).AsTask(),
            new ExecutionDataflowBlockOptions { BoundedCapacity = 8, MaxDegreeOfParallelism = 1 });
        jobs.LinkTo(count, new DataflowLinkOptions { PropagateCompletion = true });
        count.LinkTo(reply, new DataflowLinkOptions { PropagateCompletion = true });
        await worker.StartAsync();
        // ... (the test submits a job here)
        string h = await SubmitAsync(client, wordcount, "this dog does not hunt");
        Assert.Equal([$"WorkComplete {h}|5"], (await ReadUntilEndAsync(client)).Select(Describe));
        await worker.StopAsync();   // completes `jobs`; completion flows to `count`, then to `reply`
        await reply.Completion;
        // ---
    }

    [Theory(Timeout = 60_000)]
    [InlineData(ServerKind.Gearmand)]
    [InlineData(ServerKind.Ours)]
    public async Task Hosting(ServerKind kind)
    {
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        string address = $"{server.Host}:{server.Port}";
        string echo = TestNames.Unique("echo");

        // --- docs/worker.md: Hosting (two servers in the docs; one here) ---
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddGearmanWorker(
            options => options with { Servers = [address], ClientId = "thumbnailer" },
            (services, worker) => worker.AddFunction(echo, (job, _) => ValueTask.FromResult(job.Workload), GearmanFunctionOptions.Default));
        using var host = builder.Build();
        await host.StartAsync(Ct);   // the docs: await host.RunAsync();
        // ---

        await using var client = await RawGearmanConnection.ConnectAsync(server, Ct);
        string h = await SubmitAsync(client, echo, "hosted");
        Assert.Equal([$"WorkComplete {h}|hosted"], (await ReadUntilEndAsync(client)).Select(Describe));
        await host.StopAsync(Ct);
    }
}
