using System.Text;
using Gearman.Reactive.Client;
using Gearman.Reactive.MapReduce;
using Gearman.Reactive.Worker;

namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// The SDK's side of the map-reduce scenario against one server, mirroring <see cref="LibgearmanDriver"/>'s: one mapper
/// splits each workload into <see cref="Scenario.PayloadSize"/>-byte chunks, <see cref="Scenario.Workers"/> echo
/// reducers (one job at a time each), an aggregator that returns <c>"&lt;chunks&gt;:&lt;bytes&gt;"</c>, and a client
/// that runs map jobs with <c>ExecuteReduceAsync</c> (the SDK's <c>gearman_execute_by_partition</c>).
/// </summary>
internal sealed class SdkMapReduceSet : IAsyncDisposable
{
    private const string MapFunction = "bench_sdk_map";
    private const string ReduceFunction = "bench_sdk_echo";

    private readonly List<GearmanWorker> _workers;
    private readonly GearmanClient _client;
    private readonly byte[] _payload;
    private readonly string _expected;

    private SdkMapReduceSet(List<GearmanWorker> workers, GearmanClient client, Scenario scenario)
    {
        _workers = workers;
        _client = client;
        _payload = new byte[(long)scenario.Chunks * scenario.PayloadSize];
        Array.Fill(_payload, (byte)'x');
        _expected = $"{scenario.Chunks}:{_payload.Length}";
    }

    /// <summary>Starts the mapper and the reducers and connects the client.</summary>
    public static async Task<SdkMapReduceSet> StartAsync(Scenario scenario, SdkTarget target)
    {
        var workerOptions = GearmanWorkerOptions.Default with { Servers = target.Servers, Tls = target.Tls };
        var workers = new List<GearmanWorker>();
        try
        {
            var mapper = new GearmanWorker(workerOptions);
            workers.Add(mapper);
            mapper.AddMapper(MapFunction, (job, _) => Split(job.Workload, scenario.PayloadSize), CountAsync, GearmanMapperOptions.Default with { MaxReducerJobs = scenario.Chunks });
            for (int i = 0; i < scenario.Workers; i++)
            {
                var reducer = new GearmanWorker(workerOptions);
                workers.Add(reducer);
                reducer.AddFunction(ReduceFunction, (job, _) => ValueTask.FromResult(job.Workload), GearmanFunctionOptions.Default);
            }

            foreach (var w in workers) await w.StartAsync().ConfigureAwait(false);
            var client = new GearmanClient(GearmanClientOptions.Default with { Servers = target.Servers, Tls = target.Tls });
            return new SdkMapReduceSet(workers, client, scenario);
        }
        catch
        {
            foreach (var w in workers) await w.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs one map job and checks its result.</summary>
    public async Task RunOneAsync(CancellationToken cancellationToken)
    {
        var result = await _client.ExecuteReduceAsync(MapFunction, ReduceFunction, _payload, cancellationToken: cancellationToken).ConfigureAwait(false);
        string text = Encoding.ASCII.GetString(result.Span);
        if (text != _expected) throw new LoadException($"map-reduce: unexpected result '{text}', expected '{_expected}'");
    }

    public async ValueTask DisposeAsync()
    {
        await _client.DisposeAsync().ConfigureAwait(false);
        foreach (var w in _workers) await w.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The map step: slices of the workload (which stays unchanged while its reducer jobs run).</summary>
    private static async IAsyncEnumerable<ReadOnlyMemory<byte>> Split(ReadOnlyMemory<byte> workload, int size)
    {
        int chunk = Math.Max(1, size);
        for (int at = 0; at < workload.Length; at += chunk) yield return workload.Slice(at, Math.Min(chunk, workload.Length - at));
        await Task.CompletedTask.ConfigureAwait(false);
    }

    /// <summary>The aggregator: "&lt;chunks&gt;:&lt;bytes&gt;" over every reducer result, as loadgen.c's.</summary>
    private static async ValueTask<ReadOnlyMemory<byte>> CountAsync(IAsyncEnumerable<ReadOnlyMemory<byte>> results, CancellationToken cancellationToken)
    {
        long count = 0, bytes = 0;
        await foreach (var r in results.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            count++;
            bytes += r.Length;
        }

        return Encoding.ASCII.GetBytes($"{count}:{bytes}");
    }
}
