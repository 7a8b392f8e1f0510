using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Gearman.Reactive.MapReduce;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Xunit;
using static Gearman.Tests.Integration.MapReduce.MapReduceTestKit;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.MapReduce;

/// <summary>A map job with 10,000 chunks: bounded reducer parallelism, bounded chunks in memory, chunk order, speed.</summary>
/// <remarks>
/// Runs alone (after the parallel tests): 20,000 jobs through a server load both cores of a small CI machine, which
/// would skew this test's timing assertion and the timing-sensitive tests running beside it.
/// </remarks>
[Collection(SerialCollection.Name)]
[Trait("Category", "Integration")]
public sealed class LargeFanOutTests
{
    [Theory(Timeout = 120_000)]
    [BothServers]
    public async Task Ten_thousand_chunks_stay_within_the_parallelism_and_memory_bounds(ServerKind kind)
    {
        const int chunks = 10_000, parallelism = 8;
        await using var server = await TestServers.StartAsync(kind, ct: Ct);
        var (mapper, reducer) = (TestNames.Unique("mr_large"), TestNames.Unique("mr_work"));
        int running = 0, maxRunning = 0, produced = 0, folded = 0, maxOutstanding = 0;
        await using var worker = new GearmanWorker(Options(server) with { LoggerFactory = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance });
        worker.AddMapper(mapper, Produce, Fold, GearmanMapperOptions.Default with { MaxReducerJobs = parallelism });

        // The reducers could run four times as many jobs at once: any bound they see comes from the mapper.
        worker.AddFunction(reducer, async (job, ct) =>
        {
            InterlockedMax(ref maxRunning, Interlocked.Increment(ref running));
            await Task.Delay(1, ct); // simulated work, so that jobs in flight overlap
            Interlocked.Decrement(ref running);
            return job.Workload;
        }, Reducers(parallelism * 4));
        await worker.StartAsync(Ct);
        await using var client = NewClient(server);

        var clock = Stopwatch.StartNew();
        var result = await client.ExecuteReduceAsync(mapper, reducer, Bytes(chunks.ToString(CultureInfo.InvariantCulture)), cancellationToken: Ct)
            .AsTask().WaitAsync(TimeSpan.FromSeconds(60), Ct);
        clock.Stop();

        // The fold checked the chunk order; its result is the count and the sum of the chunk numbers.
        Assert.Equal($"{chunks} {(long)chunks * (chunks - 1) / 2}", Text(result));
        Assert.InRange(maxRunning, 2, parallelism);
        Assert.InRange(maxOutstanding, 1, (parallelism * 2) + 2);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
        TestContext.Current.TestOutputHelper?.WriteLine($"{chunks} chunks in {clock.Elapsed.TotalSeconds:0.00} s; most reducer jobs running at once {maxRunning}; most chunks held {maxOutstanding}");

        async IAsyncEnumerable<ReadOnlyMemory<byte>> Produce(GearmanJob job, [EnumeratorCancellation] CancellationToken ct)
        {
            int count = int.Parse(Text(job.Workload), CultureInfo.InvariantCulture);
            for (int i = 0; i < count; i++)
            {
                int outstanding = Interlocked.Increment(ref produced) - Volatile.Read(ref folded);
                InterlockedMax(ref maxOutstanding, outstanding);
                yield return Bytes(i.ToString(CultureInfo.InvariantCulture));
            }

            await Task.CompletedTask;
        }

        async ValueTask<ReadOnlyMemory<byte>> Fold(IAsyncEnumerable<ReadOnlyMemory<byte>> results, CancellationToken ct)
        {
            long count = 0, sum = 0;
            await foreach (var r in results.WithCancellation(ct))
            {
                int n = int.Parse(Text(r), CultureInfo.InvariantCulture);
                if (n != count) throw new InvalidOperationException($"result {n} arrived in place {count}");
                count++;
                sum += n;
                Interlocked.Increment(ref folded);
            }

            return Bytes($"{count} {sum}");
        }
    }
}
