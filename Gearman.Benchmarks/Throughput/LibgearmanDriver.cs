using System.Globalization;

namespace Gearman.Benchmarks.Throughput;

/// <summary>Load (a): libgearman C clients and workers, as threads of the <c>loadgen</c> processes.</summary>
/// <remarks>
/// The load's CPU and context switches come from the loadgen processes themselves (getrusage), not from /proc: the
/// client processes are started and end inside the measured window, so /proc has nothing to read at its edges, and
/// their RESULT line counts their timed loop only (as the SDK's clients are connected before its window). Workers run
/// across the window (and background ones end inside it), so each is asked for its total at <c>Begin</c>
/// (<see cref="LoadGenProcess.Usage"/>) and read again at the end, from the same source, and the two are subtracted.
/// getrusage is also finer than /proc's 10 ms clock tick and keeps the context switches of ended threads.
/// </remarks>
internal sealed class LibgearmanDriver : ILoadDriver
{
    public const string DriverName = "libgearman";

    private const string EchoFunction = "bench_echo";
    private const string MapFunction = "bench_map";
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    private readonly LoadGen? _loadGen;

    public LibgearmanDriver(LoadGen? loadGen, string? unavailable)
    {
        _loadGen = loadGen;
        Unavailable = loadGen is null ? unavailable ?? "the load generator could not be built" : null;
    }

    public string Name => DriverName;

    public string? Unavailable { get; }

    public string? Unsupported(Scenario scenario) => null;

    public RunMeasurement Run(ScenarioRun run, RunningServer server, MeasurementWindow window)
    {
        var lg = _loadGen ?? throw new InvalidOperationException(Unavailable);
        return run.Scenario.Kind switch
        {
            ScenarioKind.Foreground => Foreground(lg, run, server, window),
            ScenarioKind.Background => Background(lg, run, server, window),
            ScenarioKind.MapReduce => MapReduce(lg, run, server, window),
            ScenarioKind.Memory => Memory(lg, run, server, window),
            _ => throw new ArgumentOutOfRangeException(nameof(run), run.Scenario.Kind, "unknown scenario kind"),
        };
    }

    /// <summary>Workers echo; clients wait for each job (or each pipelined batch).</summary>
    private static RunMeasurement Foreground(LoadGen lg, ScenarioRun run, RunningServer server, MeasurementWindow window)
    {
        var s = run.Scenario;
        using var workers = lg.Start("worker", [.. Common(server, s.PayloadSize), "--threads", N(s.Workers)]);
        workers.WaitReady(run.PhaseTimeout);
        string[] client = [.. Common(server, s.PayloadSize), "--threads", N(s.Clients), "--batch", N(s.Batch)];
        window.WarmUp(run, () => lg.Run(run.PhaseTimeout, "client", [.. client, "--jobs", N(run.Warmup)]));

        window.Begin();
        var workersBefore = workers.Usage(run.PhaseTimeout);
        var r = lg.Run(run.PhaseTimeout, "client", [.. client, "--jobs", N(run.Jobs)]);
        var load = LoadUsage.Of(r) + (workers.Usage(run.PhaseTimeout) - workersBefore);
        window.End();
        workers.Stop(StopGrace);
        return new RunMeasurement(r.Jobs, r.Double("seconds"), r.Double("p50_us"), r.Double("p99_us"), Load: load);
    }

    /// <summary>
    /// Workers that stop after exactly N jobs are started first; the submitter then pipelines N background jobs
    /// stamped with their submit time. Throughput is N over the span from the first submit to the last job done.
    /// </summary>
    private static RunMeasurement Background(LoadGen lg, ScenarioRun run, RunningServer server, MeasurementWindow window)
    {
        var s = run.Scenario;
        string[] worker = [.. Common(server, s.PayloadSize), "--threads", N(s.Workers), "--latency"];
        string[] submit = [.. Common(server, s.PayloadSize), "--threads", N(s.Clients), "--batch", N(s.Batch)];
        window.WarmUp(run, () =>
        {
            using var warm = lg.Start("worker", [.. worker, "--jobs", N(run.Warmup)]);
            warm.WaitReady(run.PhaseTimeout);
            lg.Run(run.PhaseTimeout, "submit", [.. submit, "--jobs", N(run.Warmup)]);
            warm.WaitForResult(run.PhaseTimeout);
        });

        using var workers = lg.Start("worker", [.. worker, "--jobs", N(run.Jobs)]);
        workers.WaitReady(run.PhaseTimeout);
        window.Begin();
        var workersBefore = workers.Usage(run.PhaseTimeout);
        var submitted = lg.Run(run.PhaseTimeout, "submit", [.. submit, "--jobs", N(run.Jobs)]);
        var drained = workers.WaitForResult(run.PhaseTimeout);
        window.End();
        return new RunMeasurement(
            drained.Jobs,
            drained.Double("span_s"),
            drained.Double("p50_us"),
            drained.Double("p99_us"),
            $"submitted in {submitted.Double("seconds"):0.000} s ({submitted.Double("rate"):0} jobs/s)",
            LoadUsage.Of(submitted) + (LoadUsage.Of(drained) - workersBefore));
    }

    /// <summary>One mapper and the reducers run in one worker process; each client call is one execute_by_partition.</summary>
    private static RunMeasurement MapReduce(LoadGen lg, ScenarioRun run, RunningServer server, MeasurementWindow window)
    {
        var s = run.Scenario;
        using var workers = lg.Start("worker", [.. Common(server, s.PayloadSize), "--threads", N(s.Workers), "--mappers", "1", "--mapper", MapFunction]);
        workers.WaitReady(run.PhaseTimeout);
        string[] client = [.. Common(server, s.PayloadSize), "--threads", N(s.Clients), "--mapper", MapFunction, "--chunks", N(s.Chunks)];
        window.WarmUp(run, () => lg.Run(run.PhaseTimeout, "mapreduce", [.. client, "--jobs", N(run.Warmup)]));

        window.Begin();
        var workersBefore = workers.Usage(run.PhaseTimeout);
        var r = lg.Run(run.PhaseTimeout, "mapreduce", [.. client, "--jobs", N(run.Jobs)]);
        var load = LoadUsage.Of(r) + (workers.Usage(run.PhaseTimeout) - workersBefore);
        window.End();
        workers.Stop(StopGrace);
        return new RunMeasurement(r.Jobs, r.Double("seconds"), r.Double("p50_us"), r.Double("p99_us"), $"{s.Chunks} reducer jobs per map job", load);
    }

    /// <summary>Queues N background jobs with no worker registered; the window reads the server's RSS before and after.</summary>
    private static RunMeasurement Memory(LoadGen lg, ScenarioRun run, RunningServer server, MeasurementWindow window)
    {
        var s = run.Scenario;
        window.Begin();
        var r = lg.Run(run.PhaseTimeout, "submit", [.. Common(server, s.PayloadSize), "--threads", N(s.Clients), "--batch", N(s.Batch), "--jobs", N(run.Jobs)]);
        window.End();
        return new RunMeasurement(r.Jobs, r.Double("seconds"), null, null, "jobs/s is the submission rate", LoadUsage.Of(r));
    }

    private static string[] Common(RunningServer server, int size)
        => ["--host", "127.0.0.1", "--port", N(server.Port), "--function", EchoFunction, "--size", N(size)];

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);
}
