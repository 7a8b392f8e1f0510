using Microsoft.Extensions.Time.Testing;

namespace Gearman.Tests.Unit.Scheduling;

/// <summary>
/// A <see cref="FakeTimeProvider"/> whose timers refuse what a System.Threading timer refuses (a due time beyond
/// 4294967294 ms), and can be told to fail every arming, to drive the scheduler's handling of a failing command.
/// </summary>
internal sealed class SystemLimitedTimeProvider : FakeTimeProvider
{
    /// <summary>The longest due time a System.Threading timer accepts.</summary>
    public static readonly TimeSpan MaxDueTime = TimeSpan.FromMilliseconds(uint.MaxValue - 1);

    public SystemLimitedTimeProvider(DateTimeOffset start)
        : base(start)
    {
    }

    /// <summary>When set, every <see cref="ITimer.Change"/> throws.</summary>
    public bool FailEveryArming { get; set; }

    /// <summary>The longest due time any timer was armed with.</summary>
    public TimeSpan LongestArming { get; private set; }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        Check(dueTime);
        return new LimitedTimer(this, base.CreateTimer(callback, state, dueTime, period));
    }

    private void Check(TimeSpan dueTime)
    {
        if (FailEveryArming) throw new InvalidOperationException("Test: this timer cannot be armed.");
        if (dueTime != Timeout.InfiniteTimeSpan && dueTime > MaxDueTime)
        {
            throw new ArgumentOutOfRangeException(nameof(dueTime), "dueTime must be <= 4294967294 (as System.Threading.Timer says)");
        }

        if (dueTime != Timeout.InfiniteTimeSpan && dueTime > LongestArming) LongestArming = dueTime;
    }

    private sealed class LimitedTimer(SystemLimitedTimeProvider owner, ITimer inner) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            owner.Check(dueTime);
            return inner.Change(dueTime, period);
        }

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
