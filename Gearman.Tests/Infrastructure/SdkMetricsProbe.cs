using System.Diagnostics.Metrics;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// Listens to the SDK's static <c>Gearman.Reactive</c> meter and keeps only the measurements carrying one tag value
/// unique to the test (its function name, or its server's port), so tests running in parallel do not see each other's
/// counts. Sums and counts measurements by instrument name and tags, and lets a test await a condition on them.
/// </summary>
internal sealed class SdkMetricsProbe : IDisposable
{
    public const string MeterName = Gearman.Reactive.Diagnostics.GearmanMetrics.MeterName;

    private readonly MeterListener _listener = new();
    private readonly string _tagKey;
    private readonly object _tagValue;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (double Sum, long Count)> _series = [];
    private readonly List<string> _instruments = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Keeps the measurements whose tag <paramref name="tagKey"/> equals <paramref name="tagValue"/>.</summary>
    public SdkMetricsProbe(string tagKey, object tagValue)
    {
        _tagKey = tagKey;
        _tagValue = tagValue;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name != MeterName) return;
            lock (_lock) _instruments.Add($"{instrument.Name} ({instrument.GetType().Name.Split('`')[0]}, {instrument.Unit})");
            listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    /// <summary>A probe for the measurements of function <paramref name="function"/>.</summary>
    public static SdkMetricsProbe ForFunction(string function) => new("gearman.function", function);

    /// <summary>The instruments of the meter, as "name (type, unit)".</summary>
    public IReadOnlyList<string> Instruments
    {
        get
        {
            lock (_lock) return [.. _instruments];
        }
    }

    /// <summary>The sum of the values recorded on <paramref name="instrument"/> whose tags include all of <paramref name="tags"/> ("key=value").</summary>
    public double Sum(string instrument, params string[] tags) => Aggregate(instrument, tags).Sum;

    /// <summary>How many measurements were recorded on <paramref name="instrument"/> with all of <paramref name="tags"/>.</summary>
    public long Count(string instrument, params string[] tags) => Aggregate(instrument, tags).Count;

    /// <summary>Every series seen, for failure messages.</summary>
    public string Dump()
    {
        lock (_lock) return string.Join(", ", _series.Select(kv => $"{kv.Key}: sum {kv.Value.Sum} count {kv.Value.Count}"));
    }

    /// <summary>Completes once <paramref name="condition"/> holds, re-checked after each kept measurement.</summary>
    public async Task WaitUntilAsync(Func<SdkMetricsProbe, bool> condition, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            Task changed;
            lock (_lock) changed = _changed.Task;
            if (condition(this)) return;
            try
            {
                await changed.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Metrics condition not reached in time; recorded: {Dump()}");
            }
        }
    }

    public void Dispose() => _listener.Dispose();

    private (double Sum, long Count) Aggregate(string instrument, string[] tags)
    {
        lock (_lock)
        {
            (double Sum, long Count) total = (0, 0);
            foreach (var (key, value) in _series)
            {
                var parts = key.Split('|');
                if (parts[0] == instrument && tags.All(parts.Contains)) total = (total.Sum + value.Sum, total.Count + value.Count);
            }

            return total;
        }
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        bool ours = false;
        var parts = new List<string> { instrument.Name };
        foreach (var tag in tags)
        {
            if (tag.Key == _tagKey && Equals(tag.Value, _tagValue)) ours = true;
            parts.Add($"{tag.Key}={tag.Value}");
        }

        if (!ours) return;
        parts.Sort(1, parts.Count - 1, StringComparer.Ordinal);
        string key = string.Join('|', parts);
        TaskCompletionSource changed;
        lock (_lock)
        {
            var (sum, count) = _series.GetValueOrDefault(key);
            _series[key] = (sum + value, count + 1);
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }
}
