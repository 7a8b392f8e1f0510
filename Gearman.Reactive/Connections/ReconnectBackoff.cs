namespace Gearman.Reactive.Connections;

/// <summary>
/// The one reconnect back-off of clients and workers: the pause starts at the configured delay, each consecutive
/// failure doubles it up to the maximum, and every pause is jittered by ±20 % so that many peers that lost the same
/// server do not reconnect in lockstep.
/// </summary>
internal static class ReconnectBackoff
{
    /// <summary>The defaults both <see cref="Client.GearmanClientOptions"/> and <see cref="Worker.GearmanWorkerOptions"/> start from.</summary>
    public static readonly TimeSpan DefaultDelay = TimeSpan.FromMilliseconds(100);

    /// <inheritdoc cref="DefaultDelay"/>
    public static readonly TimeSpan DefaultMaxDelay = TimeSpan.FromSeconds(10);

    /// <summary>The pause to wait now for a back-off of <paramref name="delay"/>.</summary>
    public static TimeSpan Jittered(TimeSpan delay) => delay * (0.8 + (Random.Shared.NextDouble() * 0.4));

    /// <summary>The back-off after one more consecutive failure.</summary>
    public static TimeSpan Next(TimeSpan delay, TimeSpan max) => TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, max.Ticks));
}
