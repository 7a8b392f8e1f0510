namespace Gearman.Reactive.Connections.Transports;

/// <summary>
/// Keeps a <see cref="SocketThreadTransport"/> reading while its reader thread runs user code (see
/// <see cref="ReaderDelivery"/>): every <see cref="Period"/>, a reader that has been running user code for longer than
/// <see cref="Threshold"/> hands its connection to a new reader thread. One thread for the process, started with the
/// first connection. When no reader has run user code for <see cref="QuietChecksBeforeSleep"/> checks it stops
/// checking, and the next reader that starts to run user code wakes it, so an idle process is not woken 100 times a
/// second.
/// </summary>
internal static class ReaderWatchdog
{
    /// <summary>How often the readers are checked while any runs user code.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromMilliseconds(10);

    /// <summary>How long a reader may run user code before another thread takes over its reading.</summary>
    public static readonly TimeSpan Threshold = TimeSpan.FromMilliseconds(20);

    /// <summary>Checks in a row that find no reader running user code before the watchdog sleeps (one second).</summary>
    public const int QuietChecksBeforeSleep = 100;

    private static readonly Lock Sync = new();
    private static readonly List<SocketThreadTransport> Watched = [];
    private static readonly SemaphoreSlim Wake = new(0);
    private static bool _started;
    private static int _sleeping; // 1 while the watchdog waits to be woken
    private static long _takeovers;

    /// <summary>How many times a reader was taken over (for tests and diagnostics).</summary>
    public static long Takeovers => Interlocked.Read(ref _takeovers);

    /// <summary>Whether the watchdog is asleep (for tests).</summary>
    internal static bool IsSleeping => Volatile.Read(ref _sleeping) == 1;

    /// <summary>Counts a takeover (before the new reader starts, so that whoever it unblocks sees the count).</summary>
    public static void CountTakeover() => Interlocked.Increment(ref _takeovers);

    public static void Watch(SocketThreadTransport transport)
    {
        lock (Sync)
        {
            Watched.Add(transport);
            if (_started) return;
            _started = true;
        }

        var thread = new Thread(Run) { IsBackground = true, Name = "Gearman reader watchdog" };
        thread.UnsafeStart();
    }

    public static void Unwatch(SocketThreadTransport transport)
    {
        lock (Sync) Watched.Remove(transport);
    }

    /// <summary>
    /// A reader has started to run user code (after publishing that with a full fence): wakes the watchdog if it sleeps.
    /// </summary>
    public static void DeliveryStarted()
    {
        if (Interlocked.CompareExchange(ref _sleeping, 0, 1) == 1) Wake.Release();
    }

    private static void Run()
    {
        var due = new List<SocketThreadTransport>();
        int quietChecks = 0;
        while (true)
        {
            if (quietChecks >= QuietChecksBeforeSleep)
            {
                // Announce the sleep before looking (a full fence each side): either a reader starting now sees it
                // and wakes us, or we see that reader and stay awake.
                Interlocked.Exchange(ref _sleeping, 1);
                if (!Check(due, Environment.TickCount64)) Wake.Wait();
                Interlocked.Exchange(ref _sleeping, 0);
                quietChecks = 0;
            }

            Thread.Sleep(Period);
            quietChecks = Check(due, Environment.TickCount64) ? 0 : quietChecks + 1;

            // Outside the lock: taking over starts a thread.
            foreach (var transport in due) transport.TryTakeOver();
            due.Clear();
        }
    }

    /// <summary>Collects the readers due for a takeover into <paramref name="due"/>; true when any reader runs user code.</summary>
    private static bool Check(List<SocketThreadTransport> due, long now)
    {
        bool anyDelivering = false;
        lock (Sync)
        {
            foreach (var transport in Watched)
            {
                if (!transport.IsDelivering) continue;
                anyDelivering = true;
                if (transport.IsDeliveringSince(now - (long)Threshold.TotalMilliseconds)) due.Add(transport);
            }
        }

        return anyDelivering;
    }
}
