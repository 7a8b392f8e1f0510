namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// Load (b): our SDK's clients (<c>GearmanClient</c>, Rx) and workers (<c>GearmanWorker</c>, Dataflow), run in this
/// process: foreground, background and memory scenarios in <see cref="SdkLoad"/>, map-reduce in <see cref="SdkMapReduce"/>.
/// </summary>
internal sealed class SdkDriver : ILoadDriver
{
    public const string DriverName = "sdk";

    public string Name => DriverName;

    public string? Unavailable => null;

    public string? Unsupported(Scenario scenario) => null;

    public RunMeasurement Run(ScenarioRun run, RunningServer server, MeasurementWindow window)
        => run.Scenario.Kind == ScenarioKind.MapReduce
            ? SdkMapReduce.Run(run, server, window)
            : SdkLoad.Run(run, server, window);
}
