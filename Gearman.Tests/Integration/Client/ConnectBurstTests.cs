using Gearman.Reactive.Client;
using Gearman.Reactive.Connections.Transports;
using Gearman.Tests.Infrastructure;
using Gearman.Tests.Integration.MapReduce;
using Xunit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.Client;

/// <summary>
/// A burst of submits on a client that is still connecting: they wait for the one connect and then resume on the
/// thread that completed it, not as a thread-pool work item each. Counted with the process-wide work-item counter, so
/// the test runs alone (the non-parallel collection) against gearmand, another process.
/// </summary>
[Trait("Category", "Integration")]
[Collection(LargeFanOutCollection.Name)]
public sealed class ConnectBurstTests
{
    [Fact(Timeout = 60_000)]
    public async Task Submits_made_while_connecting_resume_without_a_thread_pool_work_item_each()
    {
        Assert.SkipUnless(SocketThreadTransport.IsSupported, "the reader-thread transport (Linux x64/arm64) delivers replies without the pool");
        const int Jobs = 1000;
        await using var server = await TestServers.StartAsync(ServerKind.Gearmand, ct: Ct);
        string fn = TestNames.Unique("burst");
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        // Warm up the code paths on another client, so that the count below is the burst's alone.
        await using (var warm = new GearmanClient(GearmanClientOptions.Default with { Servers = [server.Address()] }))
        {
            await Task.WhenAll(Enumerable.Range(0, 50).Select(i => warm.SubmitBackgroundAsync(fn, Bytes($"w{i}"), cancellationToken: cancel.Token).AsTask())).Within();
        }

        await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = [server.Address()] });
        long before = ThreadPool.CompletedWorkItemCount;
        var submits = new Task<JobHandle>[Jobs];
        for (int i = 0; i < Jobs; i++) submits[i] = client.SubmitBackgroundAsync(fn, Bytes($"job {i}"), cancellationToken: cancel.Token).AsTask();
        var handles = await Task.WhenAll(submits).Within();
        long workItems = ThreadPool.CompletedWorkItemCount - before;

        Assert.Equal(Jobs, handles.Select(h => h.Handle).Distinct().Count());

        // One work item per submit (or more) when each waiter resumed on the pool; a few dozen wake-ups of the write
        // loop (which then sends many submits at once) and the connect itself otherwise.
        Assert.True(workItems < Jobs / 10, $"{workItems} thread-pool work items for {Jobs} submits made while connecting");
    }
}
