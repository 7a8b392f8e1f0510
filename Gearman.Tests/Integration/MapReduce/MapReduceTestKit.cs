using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using Gearman.Reactive.Client;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Gearman.Tests.Integration.Worker;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.MapReduce;

/// <summary>
/// The functions of gearmand's partition tests (spec §4.4) written with the SDK, and helpers for map-reduce tests.
/// </summary>
internal static class MapReduceTestKit
{
    /// <summary>The sentence of gearmand's partition tests.</summary>
    public const string Sentence = "this dog does not hunt";

    /// <summary>A client for <paramref name="server"/>.</summary>
    public static GearmanClient NewClient(IServerUnderTest server)
        => new(GearmanClientOptions.Default with { Servers = [$"{server.Host}:{server.Port.ToString(CultureInfo.InvariantCulture)}"], LoggerFactory = TestLogging.Factory });

    /// <summary>
    /// gearmand's <c>split_worker</c>: one chunk per word (split on spaces and NULs); the word <c>mapper_fail</c> throws
    /// "Error occurred on purpose" (WORK_EXCEPTION).
    /// </summary>
    public static IAsyncEnumerable<ReadOnlyMemory<byte>> SplitWords(GearmanJob job, CancellationToken cancellationToken)
        => Text(job.Workload)
            .Split([' ', '\0'], StringSplitOptions.RemoveEmptyEntries)
            .Select(word => word == "mapper_fail" ? throw new InvalidOperationException("Error occurred on purpose") : (ReadOnlyMemory<byte>)Bytes(word))
            .ToAsyncEnumerable();

    /// <summary>gearmand's <c>cat_aggregator_fn</c>: the results concatenated in the order they arrive.</summary>
    public static async ValueTask<ReadOnlyMemory<byte>> Concatenate(IAsyncEnumerable<ReadOnlyMemory<byte>> results, CancellationToken cancellationToken)
    {
        var all = new ArrayBufferWriter<byte>();
        await foreach (var result in results.WithCancellation(cancellationToken)) all.Write(result.Span);
        return all.WrittenMemory;
    }

    /// <summary>
    /// gearmand's <c>echo_or_react_worker_v2</c> as a reducer: echoes the chunk, fails (WORK_FAIL) on <c>fail</c>;
    /// records each chunk in <paramref name="seen"/>.
    /// </summary>
    public static Func<GearmanJob, CancellationToken, ValueTask<ReadOnlyMemory<byte>>> EchoOrReact(ConcurrentQueue<string> seen)
        => async (job, ct) =>
        {
            seen.Enqueue(Text(job.Workload));
            if (Text(job.Workload) == "fail") await job.FailAsync(ct);
            return job.Workload;
        };

    /// <summary>A reducer registration that runs several reducer jobs at once.</summary>
    public static GearmanFunctionOptions Reducers(int parallelism = 4)
        => GearmanFunctionOptions.Default with { BoundedCapacity = parallelism, MaxDegreeOfParallelism = parallelism };

    /// <summary>Raises <paramref name="max"/> to <paramref name="value"/> if it is larger.</summary>
    public static void InterlockedMax(ref int max, int value)
    {
        int current;
        while (value > (current = Volatile.Read(ref max)) && Interlocked.CompareExchange(ref max, value, current) != current)
        {
        }
    }
}
