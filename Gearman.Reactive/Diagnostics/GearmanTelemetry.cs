namespace Gearman.Reactive.Diagnostics;

/// <summary>
/// The names to subscribe to: <c>AddSource(GearmanTelemetry.ActivitySourceName)</c> and
/// <c>AddMeter(GearmanTelemetry.MeterName)</c> in OpenTelemetry. docs/client.md and docs/worker.md list the spans,
/// attributes and instruments.
/// </summary>
public static class GearmanTelemetry
{
    /// <summary>The <see cref="System.Diagnostics.ActivitySource"/> of client submits, worker jobs and map-reduce aggregation.</summary>
    public const string ActivitySourceName = "Gearman.Reactive";

    /// <summary>The <see cref="System.Diagnostics.Metrics.Meter"/> of the SDK's instruments.</summary>
    public const string MeterName = GearmanMetrics.MeterName;
}
