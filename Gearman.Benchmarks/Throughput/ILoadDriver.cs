namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// Drives one scenario's load against a running server: (a) libgearman C clients and workers, (b) our SDK's clients
/// and workers. The harness owns the servers and the bookkeeping; a driver starts its clients and workers, runs the
/// warm-up, and brackets exactly the measured part with <see cref="MeasurementWindow.Begin"/> and
/// <see cref="MeasurementWindow.End"/> so that server CPU and memory are read around it.
/// </summary>
/// <remarks>
/// <see cref="Run"/> is called on the main thread. A driver that starts processes must start them from that thread
/// (see <see cref="ChildProcesses"/>); one that runs in-process async code may block on it there.
/// </remarks>
internal interface ILoadDriver
{
    /// <summary>Command-line and table name.</summary>
    string Name { get; }

    /// <summary>Why this driver cannot run at all in this build or on this machine; null when it can.</summary>
    string? Unavailable { get; }

    /// <summary>Why <paramref name="scenario"/> is not implemented by this driver; null when it is.</summary>
    string? Unsupported(Scenario scenario);

    /// <summary>Runs one measured run of <paramref name="run"/> against <paramref name="server"/>.</summary>
    /// <exception cref="LoadException">The load failed; the run is reported as failed.</exception>
    RunMeasurement Run(ScenarioRun run, RunningServer server, MeasurementWindow window);
}

/// <summary>
/// A scenario with this invocation's counts. SettleJit: warm up until the JIT is idle (<see cref="MeasurementWindow.WarmUp"/>);
/// off for smoke runs, which check the harness, not figures.
/// </summary>
internal sealed record ScenarioRun(Scenario Scenario, long Jobs, long Warmup, TimeSpan PhaseTimeout, bool SettleJit);

/// <summary>What a driver measured.</summary>
/// <param name="Jobs">Jobs completed in the measured part (map-reduce: map jobs; memory: jobs queued).</param>
/// <param name="Seconds">Elapsed time that <paramref name="Jobs"/> took, as the load generator measured it.</param>
/// <param name="P50Us">Median job latency in microseconds, when measured.</param>
/// <param name="P99Us">99th percentile job latency in microseconds, when measured.</param>
/// <param name="Notes">Anything else worth keeping in the raw results.</param>
/// <param name="Load">
/// What the load's own processes used over the measured part, for a driver whose load runs outside this process; an
/// in-process load is measured by <see cref="MeasurementWindow.Self"/> instead.
/// </param>
internal sealed record RunMeasurement(long Jobs, double Seconds, double? P50Us, double? P99Us, string Notes = "", LoadUsage? Load = null);

/// <summary>Runs a run's warm-up, and reads the server's CPU time and memory at the start and end of its measured part.</summary>
/// <param name="server">The server under load.</param>
/// <param name="loadInProcess">Whether the load runs in this process (the SDK), whose own JIT then counts as the load's.</param>
internal sealed class MeasurementWindow(RunningServer server, bool loadInProcess)
{
    /// <summary>
    /// How long the background JIT must have stayed idle, under the warm-up load, before the window opens. The runtime
    /// recompiles hot methods in waves, each after a 100 ms delay that restarts with new activity; 0.5 s of quiet
    /// left none in the windows measured (docs/benchmarks.md, "A warm-up that outlasts the JIT").
    /// </summary>
    public static readonly TimeSpan QuietJit = TimeSpan.FromSeconds(0.5);

    /// <summary>The longest warm-up, however busy the JIT still is (the raw runs then show its CPU in the window).</summary>
    public static readonly TimeSpan MaxWarmup = TimeSpan.FromSeconds(10);

    private readonly JitActivity _jit = new(server.Pid, loadInProcess);
    private double? _cpuBegin;

    /// <summary>Warm-up rounds run (each of the run's warm-up job count).</summary>
    public int WarmupRounds { get; private set; }

    /// <summary>CPU seconds of the background JIT, in the server and an in-process load, inside the window (0 when the warm-up did its job).</summary>
    public double JitSecondsInWindow { get; private set; }

    /// <summary>
    /// Runs <paramref name="round"/> (one warm-up of the run's warm-up job count) until the background JIT of the
    /// server and of an in-process load has been idle for the last <see cref="QuietJit"/> of it, so that the window measures
    /// steady state; at most <see cref="MaxWarmup"/>. The rule is the same for every server and load, so gearmand and
    /// loadgen, which have no JIT, get the same minimum warm-up.
    /// </summary>
    /// <remarks>A synchronous round runs on the calling thread throughout (the libgearman driver starts processes from it).</remarks>
    public void WarmUp(ScenarioRun run, Action round) => WarmUpAsync(run, () =>
    {
        round();
        return Task.CompletedTask;
    }).GetAwaiter().GetResult();

    /// <inheritdoc cref="WarmUp"/>
    public async Task WarmUpAsync(ScenarioRun run, Func<Task> round)
    {
        if (run.Warmup <= 0) return;
        var warming = new WarmupClock();
        _jit.Lap();
        do
        {
            await round().ConfigureAwait(false);
            WarmupRounds++;
        }
        while (run.SettleJit && warming.Continue(_jit.Lap() > 0, WarmupRounds < run.Scenario.MinWarmupRounds));
    }

    public double? CpuSeconds { get; private set; }

    public long RssBefore { get; private set; }

    public long RssAfter { get; private set; }

    public long PeakRss { get; private set; }

    /// <summary>CPU seconds of this (harness) process in the window: the load's own CPU for an in-process driver.</summary>
    public double SelfCpuSeconds { get; private set; }

    /// <summary>Context switches of this process's live threads in the window (voluntary + involuntary).</summary>
    public long SelfContextSwitches { get; private set; }

    /// <summary>Thread-pool work items this process completed in the window (each is a hand-over between threads).</summary>
    public long SelfWorkItems { get; private set; }

    /// <summary>This process's CPU, context switches and work items in the window: an in-process load's usage.</summary>
    public LoadUsage Self => new(SelfCpuSeconds, SelfContextSwitches, SelfWorkItems);

    public void Begin()
    {
        if (_cpuBegin is not null) throw new InvalidOperationException("Begin called twice");
        _jit.Lap();
        RssBefore = server.Memory().Rss;
        _cpuBegin = server.CpuSeconds();
        SelfCpuSeconds = -Environment.CpuUsage.TotalTime.TotalSeconds;
        SelfContextSwitches = -ProcStats.SelfContextSwitches();
        SelfWorkItems = -ThreadPool.CompletedWorkItemCount;
    }

    public void End()
    {
        if (_cpuBegin is null || CpuSeconds is not null) throw new InvalidOperationException("End without Begin, or twice");
        SelfCpuSeconds += Environment.CpuUsage.TotalTime.TotalSeconds;
        SelfContextSwitches += ProcStats.SelfContextSwitches();
        SelfWorkItems += ThreadPool.CompletedWorkItemCount;
        CpuSeconds = server.CpuSeconds() - _cpuBegin.Value;
        JitSecondsInWindow = _jit.Lap();
        (RssAfter, PeakRss) = server.Memory();
    }

    /// <summary>Times the warm-up and the quiet stretch at its end.</summary>
    private sealed class WarmupClock
    {
        private readonly System.Diagnostics.Stopwatch _total = System.Diagnostics.Stopwatch.StartNew();
        private TimeSpan _quietSince = TimeSpan.Zero;

        /// <summary>After a round: whether to run another, given whether the JIT ran during it and whether the scenario's minimum of rounds is still ahead.</summary>
        public bool Continue(bool jitRan, bool belowMinimum)
        {
            var now = _total.Elapsed;
            if (jitRan) _quietSince = now;
            return now < MaxWarmup && (belowMinimum || now - _quietSince < QuietJit);
        }
    }
}
