using Gearman.Reactive.Diagnostics;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// A <see cref="MetricsProbe"/> on the SDK's static <c>Gearman.Reactive</c> meter (which, being static, has no factory
/// scope), seen through one tag value unique to the test: its function name, or its own server's port. Tests running
/// in parallel share the meter, so every sum is restricted to that tag.
/// </summary>
internal sealed class SdkMetricsProbe(string tagKey, object tagValue) : IDisposable
{
    private readonly MetricsProbe _probe = new(scope: null!, GearmanMetrics.MeterName);
    private readonly string _filter = $"{tagKey}={tagValue}";

    /// <summary>A probe for the measurements of function <paramref name="function"/>.</summary>
    public static SdkMetricsProbe ForFunction(string function) => new(GearmanMetrics.FunctionTag, function);

    /// <summary>The sum recorded on <paramref name="instrument"/> with this probe's tag and all of <paramref name="tags"/> ("key=value").</summary>
    public double Sum(string instrument, params string[] tags) => _probe.Sum(instrument, [_filter, .. tags]);

    /// <summary>Completes once <paramref name="condition"/> holds, re-checked after each measurement.</summary>
    public Task WaitUntilAsync(Func<SdkMetricsProbe, bool> condition) => _probe.WaitUntilAsync(_ => condition(this));

    public void Dispose() => _probe.Dispose();
}
