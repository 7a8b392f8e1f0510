namespace Gearman.Benchmarks.Throughput;

/// <summary>What a scenario measures.</summary>
internal enum ScenarioKind
{
    /// <summary>Clients wait for each job's result; latency is submit to WORK_COMPLETE at the client.</summary>
    Foreground,

    /// <summary>Background jobs submitted while workers drain them; latency is submit to done at the worker.</summary>
    Background,

    /// <summary>Map-reduce jobs: the mapper's chunks fan out to reducer jobs; latency is per map-reduce job.</summary>
    MapReduce,

    /// <summary>Background jobs queued with no worker; the figure is the server's resident memory.</summary>
    Memory,
}

/// <summary>One load shape, run against every server with every driver.</summary>
/// <param name="Id">Command-line name (<c>--scenarios</c>).</param>
/// <param name="Title">Table label.</param>
/// <param name="Kind">What is measured.</param>
/// <param name="Clients">Client connections (threads of the load generator).</param>
/// <param name="Workers">Worker connections serving the echo (or reducer) function.</param>
/// <param name="Batch">Jobs a client keeps in flight: 1 waits for each job; more pipelines a batch and waits for all of it.</param>
/// <param name="PayloadSize">Bytes of each job's payload (map-reduce: of each chunk).</param>
/// <param name="Jobs">Measured jobs in a full run (map-reduce: map jobs).</param>
/// <param name="SmokeJobs">Measured jobs under <c>--smoke</c>.</param>
/// <param name="Chunks">Map-reduce only: reducer jobs per map job.</param>
/// <param name="MaxRounds">Caps <c>--runs</c> for scenarios whose figure does not vary but whose run is long.</param>
/// <param name="MinWarmupRounds">
/// Warm-up rounds run whatever the JIT does (within <see cref="MeasurementWindow.MaxWarmup"/>). Map-reduce needs them:
/// every map job opens the mapper's reducer connection, so the server's accept and close paths run once per round and
/// the runtime recompiles them only after about 30 calls, later than a quiet 0.5 s of a few rounds can show.
/// </param>
internal sealed record Scenario(
    string Id,
    string Title,
    ScenarioKind Kind,
    int Clients,
    int Workers,
    int Batch,
    int PayloadSize,
    long Jobs,
    long SmokeJobs,
    int Chunks = 0,
    int MaxRounds = int.MaxValue,
    int MinWarmupRounds = 1)
{
    /// <summary>Every scenario (issue 6's, and issue 12's 64 KiB foreground ones), in report order.</summary>
    public static IReadOnlyList<Scenario> All { get; } =
    [
        new("fg-1x1", "1 client / 1 worker, 16 B foreground", ScenarioKind.Foreground, 1, 1, 1, 16, 20_000, 200),
        new("fg-4x2", "4 clients / 2 workers, 16 B foreground", ScenarioKind.Foreground, 4, 2, 1, 16, 40_000, 400),
        new("fg-batch100", "pipelined batches of 100 x 16 B (1 client / 2 workers)", ScenarioKind.Foreground, 1, 2, 100, 16, 100_000, 300),
        new("fg-64k", "1 client / 1 worker, 64 KiB foreground", ScenarioKind.Foreground, 1, 1, 1, 64 * 1024, 20_000, 100),
        new("fg-batch100-64k", "pipelined batches of 100 x 64 KiB (1 client / 2 workers)", ScenarioKind.Foreground, 1, 2, 100, 64 * 1024, 60_000, 200),
        new("bg-16b", "background 16 B jobs until drained (1 submitter / 2 workers)", ScenarioKind.Background, 1, 2, 100, 16, 100_000, 500),
        new("bg-64k", "background 64 KiB jobs until drained (1 submitter / 2 workers)", ScenarioKind.Background, 1, 2, 100, 64 * 1024, 100_000, 100),
        new("mapreduce", "map-reduce, 1,000 x 16 B chunks (1 mapper / 2 reducers)", ScenarioKind.MapReduce, 1, 2, 1, 16, 80, 1, Chunks: 1000, MinWarmupRounds: 64),
        new("memory", "queued 16 B background jobs, no worker", ScenarioKind.Memory, 1, 0, 1000, 16, 1_000_000, 2_000, MaxRounds: 1),
    ];

    /// <summary>Rounds for this invocation.</summary>
    public int RoundsFor(int runs) => Math.Min(runs, MaxRounds);

    /// <summary>Measured jobs for this invocation.</summary>
    public long JobsFor(bool smoke, double scale) => smoke ? SmokeJobs : Math.Max(1, (long)Math.Round(Jobs * scale));

    /// <summary>Unwatched jobs run first so that both servers are warm (JIT, buffers, connections) when measured.</summary>
    public long WarmupFor(bool smoke, long jobs) => Kind switch
    {
        ScenarioKind.Memory => 0,
        ScenarioKind.MapReduce => 1,
        _ => smoke ? Math.Min(jobs, 20) : Math.Clamp(jobs / 10, 100, 2_000),
    };
}
