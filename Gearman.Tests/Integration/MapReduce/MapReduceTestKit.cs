using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using Gearman.Reactive.Client;
using Gearman.Reactive.MapReduce;
using Gearman.Reactive.Worker;
using Gearman.Tests.Infrastructure;
using Gearman.Tests.Integration.Worker;
using static Gearman.Tests.Integration.Worker.WorkerTestKit;

namespace Gearman.Tests.Integration.MapReduce;

/// <summary>
/// The functions of gearmand's partition tests (protocol.md §4.4) written with the SDK, and helpers for map-reduce tests.
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

/// <summary>
/// The set-up most map-reduce tests share: a server of one kind (started with <c>--exceptions</c> unless told otherwise),
/// a started worker holding a mapper and a reducer function under unique names, and a client. Disposing stops the
/// client, then the worker, then the server.
/// </summary>
internal sealed class MapReduceRig : IAsyncDisposable
{
    /// <summary>The server options gearmand's partition tests run with.</summary>
    public static readonly ServerStartOptions WithExceptions = new() { Exceptions = true };

    private MapReduceRig(IServerUnderTest server, GearmanWorker worker, GearmanClient client, string mapper, string reducer)
        => (Server, Worker, Client, Mapper, Reducer) = (server, worker, client, mapper, reducer);

    public IServerUnderTest Server { get; }

    public GearmanWorker Worker { get; }

    public GearmanClient Client { get; }

    /// <summary>The unique name of the mapper function.</summary>
    public string Mapper { get; }

    /// <summary>The unique name of the reducer function.</summary>
    public string Reducer { get; }

    /// <summary>
    /// Starts a server of <paramref name="kind"/>, a worker on which <paramref name="register"/> adds functions for the
    /// mapper and reducer names (unique names from the prefixes), and a client.
    /// </summary>
    public static async Task<MapReduceRig> StartAsync(
        ServerKind kind, string mapperPrefix, string reducerPrefix, Action<GearmanWorker, string, string> register, ServerStartOptions? options = null)
    {
        var server = await TestServers.StartAsync(kind, options ?? WithExceptions, Ct);
        GearmanWorker? worker = null;
        try
        {
            var (mapper, reducer) = (TestNames.Unique(mapperPrefix), TestNames.Unique(reducerPrefix));
            worker = new GearmanWorker(Options(server));
            register(worker, mapper, reducer);
            await worker.StartAsync(Ct);
            return new MapReduceRig(server, worker, MapReduceTestKit.NewClient(server), mapper, reducer);
        }
        catch
        {
            if (worker is not null) await worker.DisposeAsync();
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// The word set-up of gearmand's partition tests: <see cref="MapReduceTestKit.SplitWords"/> with <see cref="MapReduceTestKit.Concatenate"/> as the
    /// mapper and <see cref="MapReduceTestKit.EchoOrReact"/> (recording into <paramref name="reduced"/>) as the reducer.
    /// </summary>
    public static Task<MapReduceRig> StartWordsAsync(ServerKind kind, ConcurrentQueue<string>? reduced = null)
        => StartAsync(kind, "mr_split", "mr_echo", (worker, mapper, reducer) =>
        {
            worker.AddMapper(mapper, MapReduceTestKit.SplitWords, MapReduceTestKit.Concatenate, GearmanMapperOptions.Default);
            worker.AddFunction(reducer, MapReduceTestKit.EchoOrReact(reduced ?? new ConcurrentQueue<string>()), MapReduceTestKit.Reducers());
        });

    /// <summary>Runs a foreground map-reduce job of the rig's mapper and reducer on <paramref name="workload"/>, bounded.</summary>
    public Task<ReadOnlyMemory<byte>> ReduceAsync(string workload)
        => Client.ExecuteReduceAsync(Mapper, Reducer, Bytes(workload), cancellationToken: Ct).AsTask().Within();

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Client.DisposeAsync();
        }
        finally
        {
            try
            {
                await Worker.DisposeAsync();
            }
            finally
            {
                await Server.DisposeAsync();
            }
        }
    }
}
