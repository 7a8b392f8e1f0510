namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// Load (b): our SDK's clients (<c>GearmanClient</c>, Rx) and workers (<c>GearmanWorker</c>, Dataflow), run in this
/// process. Extension point: the SDK does not exist yet, so every scenario reports "pending" rather than a figure.
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

    public string? Unavailable => "pending: the SDK's client and worker (Gearman.Reactive) are not built yet";

    public string? Unsupported(Scenario scenario) => null;

    public RunMeasurement Run(ScenarioRun run, RunningServer server, MeasurementWindow window)
        => throw new NotSupportedException(Unavailable);
}
