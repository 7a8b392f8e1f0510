namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// Load (b): our SDK's clients (<c>GearmanClient</c>, Rx) and workers (<c>GearmanWorker</c>, Dataflow), run in this
/// process. Map-reduce is implemented (<see cref="SdkMapReduce"/>); the other scenarios still report "pending".
/// </summary>
/// <remarks>
/// To implement: replace <see cref="Unavailable"/> with null and, per <see cref="ScenarioKind"/>, mirror
/// <see cref="LibgearmanDriver"/>: start <see cref="Scenario.Workers"/> echo workers (map-reduce: one mapper emitting
/// <see cref="Scenario.Chunks"/> chunks plus reducers), run <see cref="ScenarioRun.Warmup"/> unwatched jobs, then call
/// <see cref="MeasurementWindow.Begin"/>, run <see cref="ScenarioRun.Jobs"/> jobs from <see cref="Scenario.Clients"/>
/// clients keeping <see cref="Scenario.Batch"/> in flight each, record per-job latency, call
/// <see cref="MeasurementWindow.End"/> and return the measurement. Background latency is submit to done at the worker:
/// stamp the submit time into the payload as loadgen.c does. Block on the async SDK here (this runs on the main thread).
/// </remarks>
internal sealed class SdkDriver : ILoadDriver
{
    public const string DriverName = "sdk";

    public string Name => DriverName;

    public string? Unavailable => null;

    public string? Unsupported(Scenario scenario)
        => scenario.Kind == ScenarioKind.MapReduce ? null : "pending: this scenario is not implemented for the SDK driver yet";

    public RunMeasurement Run(ScenarioRun run, RunningServer server, MeasurementWindow window)
        => run.Scenario.Kind == ScenarioKind.MapReduce
            ? SdkMapReduce.Run(run, server, window)
            : throw new NotSupportedException(Unsupported(run.Scenario));
}
