namespace Gearman.Tests.Infrastructure;

/// <summary>
/// Samples a gauge every millisecond and keeps its highest value, for a bound that must hold throughout a phase of a
/// test (a queue's size while a peer drains it), not only at the moments the test looks.
/// </summary>
internal sealed class PeakSampler : IDisposable
{
    private readonly Func<long> _gauge;
    private readonly Timer _timer;
    private long _peak;

    private PeakSampler(Func<long> gauge)
    {
        _gauge = gauge;
        _timer = new Timer(_ => Sample(), null, 0, 1);
    }

    /// <summary>The highest value seen so far (sampled once more now).</summary>
    public long Peak
    {
        get
        {
            Sample();
            return Interlocked.Read(ref _peak);
        }
    }

    public static PeakSampler Start(Func<long> gauge) => new(gauge);

    public void Dispose() => _timer.Dispose();

    private void Sample()
    {
        long value = _gauge();
        long current;
        while (value > (current = Interlocked.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, value, current) != current)
        {
        }
    }
}
