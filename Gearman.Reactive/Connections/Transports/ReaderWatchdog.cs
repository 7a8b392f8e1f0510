namespace Gearman.Reactive.Connections.Transports;

/// <summary>
/// Keeps a <see cref="SocketThreadTransport"/> reading while its reader thread runs user code (see
/// <see cref="ReaderDelivery"/>): every <see cref="Period"/>, a reader that has been running user code for longer than
/// <see cref="Threshold"/> hands its connection to a new reader thread. One thread for the process, running only while
/// some transport is open; it only reads two fields per connection per check.
/// </summary>
internal static class ReaderWatchdog
{
    /// <summary>How often the readers are checked.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromMilliseconds(10);

    /// <summary>How long a reader may run user code before another thread takes over its reading.</summary>
    public static readonly TimeSpan Threshold = TimeSpan.FromMilliseconds(20);

    private static readonly Lock Sync = new();
    private static readonly List<SocketThreadTransport> Watched = [];
    private static bool _running;

    /// <summary>How many times a reader was taken over (for tests and diagnostics).</summary>
    public static long Takeovers => Interlocked.Read(ref _takeovers);

    private static long _takeovers;

    /// <summary>Counts a takeover (before the new reader starts, so that whoever it unblocks sees the count).</summary>
    public static void CountTakeover() => Interlocked.Increment(ref _takeovers);

    public static void Watch(SocketThreadTransport transport)
    {
        lock (Sync)
        {
            Watched.Add(transport);
            if (_running) return;
            _running = true;
        }

        var thread = new Thread(Run) { IsBackground = true, Name = "Gearman reader watchdog" };
        thread.UnsafeStart();
    }

    public static void Unwatch(SocketThreadTransport transport)
    {
        lock (Sync) Watched.Remove(transport);
    }

    private static void Run()
    {
        var due = new List<SocketThreadTransport>();
        while (true)
        {
            Thread.Sleep(Period);
            long now = Environment.TickCount64;
            lock (Sync)
            {
                if (Watched.Count == 0)
                {
                    _running = false;
                    return;
                }

                foreach (var transport in Watched)
                {
                    if (transport.IsDeliveringSince(now - (long)Threshold.TotalMilliseconds)) due.Add(transport);
                }
            }

            // Outside the lock: taking over starts a thread.
            foreach (var transport in due)
            {
                transport.TryTakeOver();
            }

            due.Clear();
        }
    }
}
