namespace Gearman.Reactive.Connections.Transports;

/// <summary>
/// Work made ready by the packets of one read, run by the reader thread itself right after it has handled them and
/// before it reads again, instead of being handed to the thread pool. It is what lets a foreground job cost no
/// thread hand-over: the reply's continuation (or the job's handler) runs on the thread that read it, and what it
/// sends goes out from there, as libgearman does on the caller's thread.
/// </summary>
/// <remarks>
/// <para>
/// Three kinds of work are kept (<see cref="DeferredKind"/>): the SDK's own short, non-blocking steps (an outbox's
/// write loop, so the sends of one read leave in one write); the continuations of consumers whose replies the read
/// brought (usually short: a result handed to the code that awaited it), in order; and at most one handler start per
/// read, so that several jobs assigned in one read still run in parallel: the other handlers go to the pool as before.
/// </para>
/// <para>
/// User code may block, even on a reply that only this connection can read. <see cref="ReaderWatchdog"/> therefore
/// watches every reader that is running user code, and when one has been at it for longer than a short threshold, a new
/// reader thread takes the connection over; the old thread hands what it has not started to the pool, finishes the user
/// code it is in, and ends.
/// </para>
/// </remarks>
internal sealed class ReaderDelivery
{
    /// <summary>What <c>_claimed</c> is set to once the rest has been handed over.</summary>
    private const long HandedOver = long.MaxValue / 2;

    [ThreadStatic]
    private static ReaderDelivery? _collecting;

    private readonly List<(Action<object?> Work, object? State)> _own = [];
    private readonly List<(Action<object?> Work, object? State)> _consumers = [];
    private Action<object?>? _handler;
    private object? _handlerState;

    /// <summary>How many of the consumers and the handler (in that order) have been taken to run, by the reader or the pool.</summary>
    private long _claimed;

    /// <summary>Whether the last read made work ready.</summary>
    public bool HasWork => _own.Count > 0 || _consumers.Count > 0 || _handler is not null;

    /// <summary>
    /// On a reader thread that is handling packets: keeps <paramref name="work"/> to run once they are handled, and
    /// returns true. Elsewhere, or for a second handler in the same read, returns false: the caller does what it does
    /// without a reader (wakes the pool).
    /// </summary>
    /// <param name="work">What to run (a static lambda, so that deferring allocates nothing).</param>
    /// <param name="state">Its argument.</param>
    /// <param name="kind">What <paramref name="work"/> is; see <see cref="DeferredKind"/>.</param>
    public static bool TryDefer(Action<object?> work, object? state, DeferredKind kind)
    {
        var delivery = _collecting;
        if (delivery is null) return false;
        switch (kind)
        {
            case DeferredKind.Handler:
                if (delivery._handler is not null) return delivery._handler == work && ReferenceEquals(delivery._handlerState, state);
                delivery._handler = work;
                delivery._handlerState = state;
                return true;
            case DeferredKind.Consumer:
                // The same consumer woken twice in a row (data, then the result) runs once.
                if (delivery._consumers.Count > 0 && delivery._consumers[^1] is var (lastWork, lastState) && lastWork == work && ReferenceEquals(lastState, state)) return true;
                delivery._consumers.Add((work, state));
                return true;
            default:
                foreach (var (ownWork, ownState) in delivery._own)
                {
                    if (ownWork == work && ReferenceEquals(ownState, state)) return true;
                }

                delivery._own.Add((work, state));
                return true;
        }
    }

    /// <summary>Starts collecting on this (reader) thread; dispose the returned scope when the read's packets are handled.</summary>
    public CollectScope Collect()
    {
        _collecting = this;
        return default;
    }

    /// <summary>
    /// Runs what the read made ready: the SDK's own steps first (they send), then the consumers in the order their
    /// replies arrived, then the handler. If another thread takes the reading over meanwhile (user code blocked this
    /// one), it calls <see cref="HandOverRemaining"/>, and what has not started here runs on the pool instead.
    /// </summary>
    public void Run()
    {
        foreach (var (work, state) in _own) work(state);
        _own.Clear();

        int count = _consumers.Count + (_handler is null ? 0 : 1);
        while (true)
        {
            long next = Interlocked.Increment(ref _claimed) - 1;
            if (next >= HandedOver) return; // the rest went to the pool; this delivery is not used again
            if (next >= count) break;
            var (work, state) = Item((int)next);
            work(state);
        }

        // Everything was claimed here (a hand-over from now on finds nothing to take): clear, then start counting
        // afresh, unless a hand-over came in between (this reader is then ending and the delivery is not used again).
        _consumers.Clear();
        _handler = null;
        _handlerState = null;
        Interlocked.CompareExchange(ref _claimed, 0, count + 1);
    }

    /// <summary>
    /// Called by the thread that takes the reading over from this delivery's reader (which is stuck in user code):
    /// sends what the reader has not started yet to the thread pool.
    /// </summary>
    public void HandOverRemaining()
    {
        long next = Interlocked.Exchange(ref _claimed, HandedOver);

        // Read after the exchange: once it is done the reader claims nothing more, so the lists stay as they are
        // (or were already cleared by a reader that had claimed everything, which leaves nothing to do).
        int count = _consumers.Count + (_handler is null ? 0 : 1);
        for (; next < count; next++)
        {
            var (work, state) = Item((int)next);
            ThreadPool.UnsafeQueueUserWorkItem(work, state, preferLocal: false);
        }
    }

    private (Action<object?> Work, object? State) Item(int index)
        => index < _consumers.Count ? _consumers[index] : (_handler!, _handlerState);

    /// <summary>Ends collection on this thread.</summary>
    internal static void EndCollect() => _collecting = null;

    /// <summary>Ends a <see cref="Collect"/> scope.</summary>
    internal readonly struct CollectScope : IDisposable
    {
        public void Dispose() => EndCollect();
    }
}

/// <summary>What a piece of work deferred to the reader thread is (<see cref="ReaderDelivery.TryDefer"/>).</summary>
internal enum DeferredKind
{
    /// <summary>The SDK's own short, non-blocking step; any number per read, the same one once.</summary>
    Own,

    /// <summary>The continuation of code that awaited a reply (user code, usually short); any number per read, in order.</summary>
    Consumer,

    /// <summary>A job handler's start (user code, may be long); one per read, the others go to the pool.</summary>
    Handler,
}
