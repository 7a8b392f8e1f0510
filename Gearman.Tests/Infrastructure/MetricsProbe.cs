using System.Diagnostics.Metrics;

namespace Gearman.Tests.Infrastructure;

/// <summary>
/// Sums the measurements of one meter factory's instruments (so tests running in parallel, each with its own server,
/// see only their own server), keyed by instrument name and tags, and lets a test await a condition on them.
/// </summary>
internal sealed class MetricsProbe : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Lock _lock = new();
    private readonly Dictionary<string, double> _sums = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public MetricsProbe(IMeterFactory scope, string meterName)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == meterName && ReferenceEquals(instrument.Meter.Scope, scope)) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    /// <summary>The sum of everything recorded on <paramref name="instrument"/> whose tags include all of <paramref name="tags"/> ("key=value").</summary>
    public double Sum(string instrument, params string[] tags)
    {
        lock (_lock)
        {
            double sum = 0;
            foreach (var (key, value) in _sums)
            {
                var parts = key.Split('|');
                if (parts[0] == instrument && tags.All(parts.Contains)) sum += value;
            }

            return sum;
        }
    }

    /// <summary>How many instruments of the meter have recorded anything (for diagnostics in failure messages).</summary>
    public string Dump()
    {
        lock (_lock) return string.Join(", ", _sums.Select(kv => $"{kv.Key}={kv.Value}"));
    }

    /// <summary>Completes once <paramref name="condition"/> holds, re-checked after each measurement.</summary>
    public async Task WaitUntilAsync(Func<MetricsProbe, bool> condition, TimeSpan? timeout = null)
    {
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
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

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var parts = new List<string> { instrument.Name };
        foreach (var tag in tags) parts.Add($"{tag.Key}={tag.Value}");
        parts.Sort(1, parts.Count - 1, StringComparer.Ordinal);
        string key = string.Join('|', parts);
        TaskCompletionSource changed;
        lock (_lock)
        {
            _sums[key] = _sums.GetValueOrDefault(key) + value;
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }
}
