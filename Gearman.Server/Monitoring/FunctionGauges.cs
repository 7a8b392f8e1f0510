using System.Diagnostics.Metrics;
using Gearman.Server.Scheduling;

namespace Gearman.Server.Monitoring;

/// <summary>
/// Per-function gauges a Gearman operator expects (what <c>prioritystatus</c> and <c>status</c> show), on their own meter
/// <see cref="MeterName"/>. They read <see cref="SnapshotPublisher.Latest"/>, so a scrape never waits for the scheduler.
/// </summary>
internal sealed class FunctionGauges
{
    public const string MeterName = "Gearman.Server.Functions";

    private static readonly string[] Priorities = ["high", "normal", "low"];

    private readonly SnapshotPublisher _snapshots;

    public FunctionGauges(IMeterFactory meterFactory, SnapshotPublisher snapshots)
    {
        _snapshots = snapshots;
        var meter = meterFactory.Create(MeterName);
        meter.CreateObservableGauge("gearman.server.function.queued", ObserveQueued, "{job}", "Jobs waiting for a worker, by function and gearman.job.priority (epoch jobs not yet due count as normal).");
        meter.CreateObservableGauge("gearman.server.function.running", () => Observe(f => f.Running), "{job}", "Jobs of the function assigned to a worker.");
        meter.CreateObservableGauge("gearman.server.function.workers", () => Observe(f => f.Workers), "{worker}", "Workers registered for the function.");
    }

    private IEnumerable<Measurement<int>> Observe(Func<FunctionSnapshot, int> value)
    {
        var snapshot = _snapshots.Latest;
        if (snapshot is null) yield break;
        foreach (var f in snapshot.Functions) yield return new Measurement<int>(value(f), new KeyValuePair<string, object?>("gearman.function", f.Name));
    }

    private IEnumerable<Measurement<int>> ObserveQueued()
    {
        var snapshot = _snapshots.Latest;
        if (snapshot is null) yield break;
        foreach (var f in snapshot.Functions)
        {
            int[] counts = [f.QueuedHigh, f.QueuedNormal + f.Delayed, f.QueuedLow];
            for (int p = 0; p < 3; p++)
            {
                yield return new Measurement<int>(counts[p], new KeyValuePair<string, object?>("gearman.function", f.Name), new KeyValuePair<string, object?>("gearman.job.priority", Priorities[p]));
            }
        }
    }
}
