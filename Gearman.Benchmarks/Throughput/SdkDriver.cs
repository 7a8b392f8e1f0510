using Gearman.Reactive.Connections;

namespace Gearman.Benchmarks.Throughput;

/// <summary>
/// Load (b): our SDK's clients (<c>GearmanClient</c>, Rx) and workers (<c>GearmanWorker</c>, Dataflow), run in this
/// process: foreground, background and memory scenarios in <see cref="SdkLoad"/>, map-reduce in <see cref="SdkMapReduce"/>.
/// </summary>
internal sealed class SdkDriver(bool portable = false) : ILoadDriver
{
    public const string DriverName = "sdk";

    /// <summary>The SDK with every connection on its portable transport (.NET async sockets and pipes), for comparison.</summary>
    public const string PortableDriverName = "sdk-portable";

    public string Name => portable ? PortableDriverName : DriverName;

    public string? Unavailable => null;

    public string? Unsupported(Scenario scenario) => null;

    public RunMeasurement Run(ScenarioRun run, RunningServer server, MeasurementWindow window)
    {
        // Runs are sequential, so a process-wide switch set for this run's connections only is safe.
        AppContext.SetSwitch(GearmanConnection.UsePortableTransportSwitch, portable);
        try
        {
            return run.Scenario.Kind == ScenarioKind.MapReduce
                ? SdkMapReduce.Run(run, server, window)
                : SdkLoad.Run(run, server, window);
        }
        finally
        {
            AppContext.SetSwitch(GearmanConnection.UsePortableTransportSwitch, false);
        }
    }
}
