using System.Diagnostics;
using System.Text;
using Gearman.Reactive.Client;
using Gearman.Reactive.MapReduce;
using Gearman.Reactive.Worker;

namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// The map-reduce scenario with the SDK, mirroring <see cref="LibgearmanDriver"/>'s: one mapper splits each workload
/// into <see cref="Scenario.PayloadSize"/>-byte chunks, <see cref="Scenario.Workers"/> echo reducers (one job at a time
/// each), an aggregator that returns <c>"&lt;chunks&gt;:&lt;bytes&gt;"</c>, and <see cref="Scenario.Clients"/> clients
/// each running map jobs one after the other (<c>ExecuteReduceAsync</c>, the SDK's <c>gearman_execute_by_partition</c>).
/// </summary>
internal static class SdkMapReduce
{
    private const string MapFunction = "bench_sdk_map";
    private const string ReduceFunction = "bench_sdk_echo";

    /// <summary>Runs one measured run; blocks the calling (main) thread on the async SDK.</summary>
    public static RunMeasurement Run(ScenarioRun run, RunningServer server, MeasurementWindow window)
        => RunAsync(run, server, window).GetAwaiter().GetResult();

    private static async Task<RunMeasurement> RunAsync(ScenarioRun run, RunningServer server, MeasurementWindow window)
    {
        var s = run.Scenario;
        var target = SdkTarget.Of(server);
        var workerOptions = GearmanWorkerOptions.Default with { Servers = target.Servers, Tls = target.Tls };
        var workers = new List<GearmanWorker>();
        try
        {
            var mapper = new GearmanWorker(workerOptions);
            workers.Add(mapper);
            mapper.AddMapper(MapFunction, (job, _) => Split(job.Workload, s.PayloadSize), CountAsync, GearmanMapperOptions.Default with { MaxReducerJobs = s.Chunks });
            for (int i = 0; i < s.Workers; i++)
            {
                var reducer = new GearmanWorker(workerOptions);
                workers.Add(reducer);
                reducer.AddFunction(ReduceFunction, (job, _) => ValueTask.FromResult(job.Workload), GearmanFunctionOptions.Default);
            }

            foreach (var w in workers) await w.StartAsync().ConfigureAwait(false);
            await using var client = new GearmanClient(GearmanClientOptions.Default with { Servers = target.Servers, Tls = target.Tls });
            var payload = new byte[(long)s.Chunks * s.PayloadSize];
            Array.Fill(payload, (byte)'x');
            string expected = $"{s.Chunks}:{payload.Length}";

            using var timeout = new CancellationTokenSource(run.PhaseTimeout);
            await window.WarmUpAsync(run, () => RunJobsAsync(client, payload, expected, run.Warmup, s.Clients, timeout.Token)).ConfigureAwait(false);

            window.Begin();
            var clock = Stopwatch.StartNew();
            var latencies = await RunJobsAsync(client, payload, expected, run.Jobs, s.Clients, timeout.Token).ConfigureAwait(false);
            clock.Stop();
            window.End();

            latencies.Sort();
            return new RunMeasurement(
                latencies.Count,
                clock.Elapsed.TotalSeconds,
                Percentile(latencies, 0.50),
                Percentile(latencies, 0.99),
                $"{s.Chunks} reducer jobs per map job, all in flight at once (as libgearman)");
        }
        catch (OperationCanceledException)
        {
            throw new LoadException($"map-reduce jobs did not finish within {run.PhaseTimeout}");
        }
        finally
        {
            foreach (var w in workers) await w.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Runs <paramref name="jobs"/> map jobs over <paramref name="clients"/> concurrent loops; returns each job's latency in µs.</summary>
    private static async Task<List<double>> RunJobsAsync(GearmanClient client, byte[] payload, string expected, long jobs, int clients, CancellationToken cancellationToken)
    {
        long next = 0;
        var latencies = new List<double>();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) <= jobs)
            {
                long start = Stopwatch.GetTimestamp();
                var result = await client.ExecuteReduceAsync(MapFunction, ReduceFunction, payload, cancellationToken: cancellationToken).ConfigureAwait(false);
                double us = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
                string text = Encoding.ASCII.GetString(result.Span);
                if (text != expected) throw new LoadException($"map-reduce: unexpected result '{text}', expected '{expected}'");
                lock (latencies) latencies.Add(us);
            }
        })).ConfigureAwait(false);
        return latencies;
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

    private static double? Percentile(List<double> sorted, double p)
        => sorted.Count == 0 ? null : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
