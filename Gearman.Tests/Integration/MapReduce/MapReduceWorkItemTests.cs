using System.Globalization;
using System.Runtime.CompilerServices;
using Gearman.Reactive.Client;
using Gearman.Reactive.Connections.Transports;
using Gearman.Reactive.MapReduce;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Gearman.Tests.Integration.Client;
using Xunit;
using static Gearman.Tests.Integration.MapReduce.MapReduceTestKit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.MapReduce;

/// <summary>
/// A map job's fan-out hands almost nothing to the thread pool: its reducer submits, their replies and the aggregation
/// run on the SDK's reader threads and the producer's thread, whether the reducer client is the map job's private one
/// (which connects while the first submits wait) or a shared one already connected. Counted with the process-wide
/// work-item counter, so the test runs alone (the non-parallel collection), against gearmand in another process.
/// </summary>
[Collection(LargeFanOutCollection.Name)]
[Trait("Category", "Integration")]
public sealed class MapReduceWorkItemTests
{
    [Theory(Timeout = 60_000)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_map_job_costs_far_fewer_thread_pool_work_items_than_chunks(bool sharedReducerClient)
    {
        Assert.SkipUnless(SocketThreadTransport.IsSupported, "the reader-thread transport (Linux x64/arm64) delivers replies without the pool");
        const int Chunks = 1000;
        await using var server = await TestServers.StartAsync(ServerKind.Gearmand, ct: Ct);
        var (mapper, reducer) = (TestNames.Unique("mr_items"), TestNames.Unique("mr_echo"));

        // A shared reducer client is connected before the map jobs; the private one connects at the first submit.
        await using var reducerClient = new GearmanClient(GearmanClientOptions.Default with { Servers = [server.Address()] });
        if (sharedReducerClient) await reducerClient.SubmitBackgroundAsync(TestNames.Unique("mr_connect"), Bytes("x"), cancellationToken: Ct);

        await using var worker = new GearmanWorker(Options(server) with { LoggerFactory = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance });
        worker.AddMapper(mapper, Produce, Count, GearmanMapperOptions.Default with { MaxReducerJobs = Chunks, ReducerClient = sharedReducerClient ? reducerClient : null });
        worker.AddFunction(reducer, (job, _) => ValueTask.FromResult(job.Workload), Reducers(1));
        await worker.StartAsync(Ct);
        await using var client = NewClient(server);
        string payload = Chunks.ToString(CultureInfo.InvariantCulture);

        // The first map job warms the code paths up; the second is counted.
        Assert.Equal(payload, Text(await client.ExecuteReduceAsync(mapper, reducer, Bytes(payload), cancellationToken: Ct).AsTask().Within()));
        long before = ThreadPool.CompletedWorkItemCount;
        Assert.Equal(payload, Text(await client.ExecuteReduceAsync(mapper, reducer, Bytes(payload), cancellationToken: Ct).AsTask().Within()));
        long workItems = ThreadPool.CompletedWorkItemCount - before;

        // Before the connect's waiters resumed on the connecting thread, the private client cost about 850 (one per
        // submit that waited); now each costs 10-25 (the connect, the map job's handler, wake-ups of write loops).
        Assert.True(workItems < Chunks / 10, $"{workItems} thread-pool work items for a map job of {Chunks} chunks");

        static async IAsyncEnumerable<ReadOnlyMemory<byte>> Produce(GearmanJob job, [EnumeratorCancellation] CancellationToken ct)
        {
            int count = int.Parse(Text(job.Workload), CultureInfo.InvariantCulture);
            for (int i = 0; i < count; i++) yield return Bytes("c");
            await Task.CompletedTask.ConfigureAwait(false);
        }

        static async ValueTask<ReadOnlyMemory<byte>> Count(IAsyncEnumerable<ReadOnlyMemory<byte>> results, CancellationToken ct)
        {
            int count = 0;
            await foreach (var _ in results.WithCancellation(ct).ConfigureAwait(false)) count++;
            return Bytes(count.ToString(CultureInfo.InvariantCulture));
        }
    }
}
