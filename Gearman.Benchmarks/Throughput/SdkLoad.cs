using System.Buffers.Binary;
using System.Diagnostics;
using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Gearman.Reactive;
using Gearman.Reactive.Client;
using Gearman.Reactive.Worker;

namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// The foreground, background and memory scenarios with the SDK, mirroring <see cref="LibgearmanDriver"/>'s loadgen:
/// one <see cref="GearmanClient"/> per client connection and one <see cref="GearmanWorker"/> per worker connection
/// (one job at a time each), all in this process.
/// </summary>
/// <remarks>
/// Foreground, batch 1: each client loops on <see cref="GearmanClient.ExecuteAsync"/> (as <c>gearman_client_do</c>).
/// Foreground, batch B: each client submits B jobs at once (<c>Submit(...).ToResult()</c> merged) and waits for all of
/// them (as <c>add_task</c> + <c>run_tasks</c>); a job's latency is from the batch start to its result.
/// Background: the submitter pipelines batches of <see cref="GearmanClient.SubmitBackgroundAsync"/> and waits for the batch's
/// acknowledgements; each payload carries its submit time (as loadgen.c's stamp) and the workers record submit-to-done
/// latency; throughput is N over the span from the first submit to the last job done.
/// Memory: background jobs queued in batches with no worker; jobs/s is the submission rate.
/// </remarks>
internal static class SdkLoad
{
    private const string EchoFunction = "bench_sdk_echo";
    private const string QueueFunction = "bench_sdk_queue";

    /// <summary>Marks a payload stamped with its submit time (bytes 8..15), as loadgen.c's STAMP_MAGIC does.</summary>
    private const ulong StampMagic = 0x53444B5354414D50UL;

    /// <summary>Runs one measured run; blocks the calling (main) thread on the async SDK.</summary>
    public static RunMeasurement Run(ScenarioRun run, RunningServer server, MeasurementWindow window)
    {
        var servers = SdkTarget.Of(server);
        try
        {
            return run.Scenario.Kind switch
            {
                ScenarioKind.Foreground => ForegroundAsync(run, servers, window).GetAwaiter().GetResult(),
                ScenarioKind.Background => BackgroundAsync(run, servers, window).GetAwaiter().GetResult(),
                ScenarioKind.Memory => MemoryAsync(run, servers, window).GetAwaiter().GetResult(),
                _ => throw new ArgumentOutOfRangeException(nameof(run), run.Scenario.Kind, "not a scenario of SdkLoad"),
            };
        }
        catch (OperationCanceledException)
        {
            throw new LoadException($"{run.Scenario.Id}: jobs did not finish within {run.PhaseTimeout}");
        }
        catch (GearmanException e)
        {
            throw new LoadException($"{run.Scenario.Id}: {e.GetType().Name}: {e.Message}");
        }
    }

    private static async Task<RunMeasurement> ForegroundAsync(ScenarioRun run, SdkTarget servers, MeasurementWindow window)
    {
        var s = run.Scenario;
        var workers = await StartWorkersAsync(servers, s.Workers, (job, _) => ValueTask.FromResult(job.Workload)).ConfigureAwait(false);
        var clients = NewClients(servers, s.Clients);
        try
        {
            var payload = new byte[s.PayloadSize];
            Array.Fill(payload, (byte)'x');
            await window.WarmUpAsync(run, () => ForegroundJobsAsync(clients, payload, run.Warmup, s.Batch, run.PhaseTimeout)).ConfigureAwait(false);

            window.Begin();
            var clock = Stopwatch.StartNew();
            var latencies = await ForegroundJobsAsync(clients, payload, run.Jobs, s.Batch, run.PhaseTimeout).ConfigureAwait(false);
            clock.Stop();
            window.End();
            return Measurement(latencies, clock.Elapsed.TotalSeconds);
        }
        finally
        {
            await DisposeAsync(clients, workers).ConfigureAwait(false);
        }
    }

    /// <summary>Runs <paramref name="jobs"/> echo jobs shared by the clients; returns each job's latency in µs.</summary>
    private static async Task<List<double>> ForegroundJobsAsync(GearmanClient[] clients, byte[] payload, long jobs, int batch, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var token = cts.Token;
        long claimed = 0;
        var all = new List<double>();
        await Task.WhenAll(clients.Select(async client =>
        {
            var mine = new List<double>();
            while (true)
            {
                long end = Interlocked.Add(ref claimed, batch);
                long n = Math.Min(batch, jobs - (end - batch));
                if (n <= 0) break;
                long start = Stopwatch.GetTimestamp();
                if (batch == 1)
                {
                    var result = await client.ExecuteAsync(EchoFunction, payload, cancellationToken: token).ConfigureAwait(false);
                    mine.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
                    CheckEcho(result, payload.Length);
                }
                else
                {
                    var batchLatencies = await Enumerable.Range(0, (int)n)
                        .Select(_ => client.Submit(EchoFunction, payload).ToResult().Select(result =>
                        {
                            double us = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
                            CheckEcho(result, payload.Length);
                            return us;
                        }))
                        .Merge()
                        .ToList()
                        .ToTask(token)
                        .ConfigureAwait(false);
                    if (batchLatencies.Count != n) throw new LoadException($"batch of {n} returned {batchLatencies.Count} results");
                    mine.AddRange(batchLatencies);
                }
            }

            lock (all) all.AddRange(mine);
        })).ConfigureAwait(false);
        return all;
    }

    private static async Task<RunMeasurement> BackgroundAsync(ScenarioRun run, SdkTarget servers, MeasurementWindow window)
    {
        var s = run.Scenario;
        Drain? phase = null;
        var workers = await StartWorkersAsync(servers, s.Workers, (job, _) =>
        {
            Volatile.Read(ref phase)!.Done(job.Workload.Span);
            return ValueTask.FromResult(ReadOnlyMemory<byte>.Empty);
        }).ConfigureAwait(false);
        var clients = NewClients(servers, s.Clients);
        try
        {
            await window.WarmUpAsync(run, async () =>
            {
                var warm = new Drain(run.Warmup);
                Volatile.Write(ref phase, warm);
                await SubmitBackgroundJobsAsync(clients, EchoFunction, s.PayloadSize, run.Warmup, s.Batch, stamp: true, run.PhaseTimeout).ConfigureAwait(false);
                await warm.Drained.WaitAsync(run.PhaseTimeout).ConfigureAwait(false);
            }).ConfigureAwait(false);

            var measured = new Drain(run.Jobs);
            Volatile.Write(ref phase, measured);
            window.Begin();
            double submitSeconds = await SubmitBackgroundJobsAsync(clients, EchoFunction, s.PayloadSize, run.Jobs, s.Batch, stamp: true, run.PhaseTimeout).ConfigureAwait(false);
            await measured.Drained.WaitAsync(run.PhaseTimeout).ConfigureAwait(false);
            window.End();
            if (measured.Unstamped > 0) throw new LoadException($"{measured.Unstamped} background jobs carried no submit stamp");
            return Measurement(
                measured.Latencies,
                measured.SpanSeconds,
                $"submitted in {submitSeconds:0.000} s ({run.Jobs / submitSeconds:0} jobs/s)");
        }
        catch (TimeoutException)
        {
            throw new LoadException($"background jobs were not drained within {run.PhaseTimeout}");
        }
        finally
        {
            await DisposeAsync(clients, workers).ConfigureAwait(false);
        }
    }

    private static async Task<RunMeasurement> MemoryAsync(ScenarioRun run, SdkTarget servers, MeasurementWindow window)
    {
        var s = run.Scenario;
        var clients = NewClients(servers, s.Clients);
        try
        {
            window.Begin();
            double seconds = await SubmitBackgroundJobsAsync(clients, QueueFunction, s.PayloadSize, run.Jobs, s.Batch, stamp: false, run.PhaseTimeout).ConfigureAwait(false);
            window.End();
            return new RunMeasurement(run.Jobs, seconds, null, null, "jobs/s is the submission rate");
        }
        finally
        {
            await DisposeAsync(clients, []).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Submits <paramref name="jobs"/> background jobs shared by the clients, each client <paramref name="batch"/> at a
    /// time waiting for the batch's JOB_CREATED; returns the elapsed seconds.
    /// </summary>
    private static async Task<double> SubmitBackgroundJobsAsync(GearmanClient[] clients, string function, int size, long jobs, int batch, bool stamp, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var token = cts.Token;
        long claimed = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(clients.Select(async client =>
        {
            // One buffer per slot of the batch, reused once the batch is acknowledged.
            var payloads = new byte[batch][];
            for (int i = 0; i < batch; i++)
            {
                payloads[i] = new byte[size];
                Array.Fill(payloads[i], (byte)'x');
            }

            var pending = new Task<JobHandle>[batch];
            while (true)
            {
                long end = Interlocked.Add(ref claimed, batch);
                int n = (int)Math.Min(batch, jobs - (end - batch));
                if (n <= 0) break;
                for (int i = 0; i < n; i++)
                {
                    if (stamp && size >= 16)
                    {
                        BinaryPrimitives.WriteInt64LittleEndian(payloads[i], Stopwatch.GetTimestamp());
                        BinaryPrimitives.WriteUInt64LittleEndian(payloads[i].AsSpan(8), StampMagic);
                    }

                    pending[i] = client.SubmitBackgroundAsync(function, payloads[i], cancellationToken: token).AsTask();
                }

                await Task.WhenAll(pending.Take(n)).ConfigureAwait(false);
            }
        })).ConfigureAwait(false);
        return clock.Elapsed.TotalSeconds;
    }

    private static async Task<List<GearmanWorker>> StartWorkersAsync(SdkTarget servers, int count, Func<GearmanJob, CancellationToken, ValueTask<ReadOnlyMemory<byte>>> handler)
    {
        var options = GearmanWorkerOptions.Default with { Servers = servers.Servers, Tls = servers.Tls };
        var workers = new List<GearmanWorker>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var worker = new GearmanWorker(options);
                workers.Add(worker);
                worker.AddFunction(EchoFunction, handler, GearmanFunctionOptions.Default);
                await worker.StartAsync().ConfigureAwait(false);
            }

            return workers;
        }
        catch
        {
            foreach (var w in workers) await w.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static GearmanClient[] NewClients(SdkTarget servers, int count)
        => [.. Enumerable.Range(0, count).Select(_ => new GearmanClient(GearmanClientOptions.Default with { Servers = servers.Servers, Tls = servers.Tls }))];

    private static async Task DisposeAsync(GearmanClient[] clients, List<GearmanWorker> workers)
    {
        foreach (var c in clients) await c.DisposeAsync().ConfigureAwait(false);
        foreach (var w in workers) await w.DisposeAsync().ConfigureAwait(false);
    }

    private static void CheckEcho(ReadOnlyMemory<byte> result, int size)
    {
        if (result.Length != size) throw new LoadException($"echo returned {result.Length} bytes, expected {size}");
    }

    private static RunMeasurement Measurement(List<double> latencies, double seconds, string notes = "")
    {
        latencies.Sort();
        return new RunMeasurement(latencies.Count, seconds, Percentile(latencies, 0.50), Percentile(latencies, 0.99), notes);
    }

    private static double? Percentile(List<double> sorted, double p)
        => sorted.Count == 0 ? null : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    /// <summary>Counts background jobs done at the workers until the expected number is reached.</summary>
    private sealed class Drain(long expected)
    {
        private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _done;
        private long _firstSubmit = long.MaxValue;
        private long _lastDone;

        public Task Drained => _drained.Task;

        public List<double> Latencies { get; } = [];

        public long Unstamped { get; private set; }

        /// <summary>From the first submit to the last job done.</summary>
        public double SpanSeconds => _lastDone > _firstSubmit ? Stopwatch.GetElapsedTime(_firstSubmit, _lastDone).TotalSeconds : 0;

        public void Done(ReadOnlySpan<byte> workload)
        {
            long now = Stopwatch.GetTimestamp();
            lock (Latencies)
            {
                if (workload.Length >= 16 && BinaryPrimitives.ReadUInt64LittleEndian(workload[8..]) == StampMagic)
                {
                    long stamp = BinaryPrimitives.ReadInt64LittleEndian(workload);
                    Latencies.Add(Stopwatch.GetElapsedTime(stamp, now).TotalMicroseconds);
                    _firstSubmit = Math.Min(_firstSubmit, stamp);
                }
                else
                {
                    Unstamped++;
                }

                _lastDone = Math.Max(_lastDone, now);
                if (++_done == expected) _drained.TrySetResult();
            }
        }
    }
}
