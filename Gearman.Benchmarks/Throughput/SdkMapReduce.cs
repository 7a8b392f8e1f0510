using System.Diagnostics;

namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// The map-reduce scenario with the SDK (<see cref="SdkMapReduceSet"/>): <see cref="Scenario.Clients"/> concurrent loops
/// each running map jobs one after the other.
/// </summary>
internal static class SdkMapReduce
{
    /// <summary>Runs one measured run; blocks the calling (main) thread on the async SDK.</summary>
    public static RunMeasurement Run(ScenarioRun run, RunningServer server, MeasurementWindow window)
        => RunAsync(run, server, window).GetAwaiter().GetResult();

    private static async Task<RunMeasurement> RunAsync(ScenarioRun run, RunningServer server, MeasurementWindow window)
    {
        var s = run.Scenario;
        try
        {
            await using var set = await SdkMapReduceSet.StartAsync(s, SdkTarget.Of(server)).ConfigureAwait(false);
            using var timeout = new CancellationTokenSource(run.PhaseTimeout);
            await window.WarmUpAsync(run, () => RunJobsAsync(set, run.Warmup, s.Clients, timeout.Token)).ConfigureAwait(false);

            window.Begin();
            var clock = Stopwatch.StartNew();
            var latencies = await RunJobsAsync(set, run.Jobs, s.Clients, timeout.Token).ConfigureAwait(false);
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
    }

    /// <summary>Runs <paramref name="jobs"/> map jobs over <paramref name="clients"/> concurrent loops; returns each job's latency in µs.</summary>
    private static async Task<List<double>> RunJobsAsync(SdkMapReduceSet set, long jobs, int clients, CancellationToken cancellationToken)
    {
        long next = 0;
        var latencies = new List<double>();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) <= jobs)
            {
                long start = Stopwatch.GetTimestamp();
                await set.RunOneAsync(cancellationToken).ConfigureAwait(false);
                double us = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
                lock (latencies) latencies.Add(us);
            }
        })).ConfigureAwait(false);
        return latencies;
    }

    private static double? Percentile(List<double> sorted, double p)
        => sorted.Count == 0 ? null : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
